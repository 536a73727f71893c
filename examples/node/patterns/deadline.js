// Lesson: deadlines. A client says how long it will wait (the grpc-timeout header);
// past it the call ends with DEADLINE_EXCEEDED and the server stops working on it. A
// server that calls another service passes on the time that is left, so the whole
// chain gives up together.
//
//   cargo run --release                        # the server
//   node examples/node/patterns/deadline.js    # this lesson
//
// grpc-js's ways: `{ deadline }` in a call's options (a Date, or milliseconds since the
// epoch). A grpc-js server handler reads the client's with call.getDeadline(); a call it
// makes with `{ parent: call }` inherits it (grpc.propagate.DEADLINE) and is cancelled
// with it (grpc.propagate.CANCELLATION): propagation is built in, by default for every
// call made with a parent. The echo service waits x-echo-delay-ms before each reply.
// The last step starts a small grpc-js server of its own in this process, a "frontend"
// that calls the server.

'use strict';

const { cli, codeName, echo, echoClient, grpc, metadata, step, notice, unary, main } = require('./common');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A frontend that does 150 ms of its own work, then asks the backend's echo for the
 * rest, which takes 200 ms: with or without `parent: call`. Resolves `backendDone`
 * once its backend call has ended. */
async function startFrontend(backend, propagate) {
  let finished;
  const backendDone = new Promise((resolve) => (finished = resolve));
  const server = new grpc.Server();
  server.addService(echo.Echo.service, {
    async UnaryEcho(call, callback) {
      await sleep(150); // the frontend's own work
      const options = propagate ? { parent: call, propagate_flags: grpc.propagate.DEFAULTS } : {};
      const started = Date.now();
      let result;
      try {
        // A grpc-js handler runs on to its end even when its client has given up.
        const { reply } = await unary(backend, 'UnaryEcho', call.request, metadata({ 'x-echo-delay-ms': '200' }), options);
        result = { reply, outcome: 'OK' };
      } catch (error) {
        result = { outcome: codeName(error) };
      }
      console.log(`   frontend: its backend call ended ${result.outcome} after ${Date.now() - started} ms`);
      finished();
      if (result.reply) callback(null, result.reply);
      else callback({ code: grpc.status.UNAVAILABLE, details: `the backend said ${result.outcome}` });
    },
  });
  const port = await new Promise((resolve, reject) => server.bindAsync(
    '127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)),
  ));
  return { server, port, backendDone };
}

async function run({ server }) {
  const client = echoClient(server);

  step('a unary call that takes 2 s, with a deadline of 300 ms');
  let started = Date.now();
  try {
    await unary(client, 'UnaryEcho', { message: 'slow' }, metadata({ 'x-echo-delay-ms': '2000' }), {
      deadline: Date.now() + 300,
    });
  } catch (error) {
    console.log(`   after ${Date.now() - started} ms: ${codeName(error)}: ${error.details}`);
  }
  notice('the call ended at its deadline, and the server stopped its work: whichever');
  notice('side\'s timer fires first, both say DEADLINE_EXCEEDED');

  step('a stream of 10 replies, 100 ms apart, with a deadline of 350 ms');
  let replies = 0;
  try {
    const md = metadata({ 'x-echo-count': '10', 'x-echo-interval-ms': '100' });
    for await (const _ of client.ServerStreamingEcho({ message: 'tick' }, md, { deadline: Date.now() + 350 })) {
      replies += 1;
    }
    console.log(`   ${replies} replies, then the stream ended OK`);
  } catch (error) {
    console.log(`   ${replies} replies, then ${codeName(error)}: ${error.details}`);
  }
  notice('the stream ended at the deadline, after the replies sent in time');

  step('propagation: client -> frontend (150 ms of work) -> server (200 ms), deadline 300 ms');
  for (const propagate of [false, true]) {
    const frontend = await startFrontend(client, propagate);
    console.log(`   ${propagate ? 'passing on (parent: call)' : 'not passing on'} the time left:`);
    const toFrontend = echoClient(`127.0.0.1:${frontend.port}`);
    started = Date.now();
    try {
      await unary(toFrontend, 'UnaryEcho', { message: 'chain' }, undefined, { deadline: Date.now() + 300 });
      console.log('   client: OK');
    } catch (error) {
      console.log(`   client: ${codeName(error)}`);
    }
    // Wait for the backend call to end and say so (at most 10 s).
    await Promise.race([frontend.backendDone, sleep(10_000)]);
    toFrontend.close();
    frontend.server.forceShutdown();
  }
  notice('without propagation the backend call ran its full 200 ms for a client that');
  notice('had given up at 300 ms; with it, it ended when the client\'s time ran out');
  client.close();
}

main(run, cli('Lesson: deadlines, on a call, on a stream, and passed on to another service.'));
