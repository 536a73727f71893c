// Lesson: cancellation. A client that no longer wants an answer cancels the call: the
// server is told (HTTP/2 RST_STREAM) and stops its work at once, instead of finishing
// work nobody will read.
//
//   cargo run --release                            # the server
//   node examples/node/patterns/cancellation.js    # this lesson
//
// grpc-js's ways: every call object, unary or streaming, has call.cancel(); the call
// then fails with CANCELLED ("Cancelled on client"). The lesson reads the server's
// metrics (GET /metrics on the same port) before and after: grpc_server_handled_total
// counts each call once it ends, by status code, and a cancelled one as Canceled. The
// server also logs "the handler stopped".

'use strict';

const { cli, codeName, echoClient, handled, metadata, step, notice, main } = require('./common');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cancelled = (server, method) => handled(server, method, 'Canceled');

/** The server's count of cancelled `method` calls, once it passed `before` (the server
 * counts a call when its handler has stopped: wait for it, at most 10 s). */
async function counted(server, method, before) {
  for (let i = 0; i < 200; i++) {
    const now = await cancelled(server, method);
    if (now > before) return now;
    await sleep(50);
  }
  return cancelled(server, method);
}

async function run({ server }) {
  const client = echoClient(server);
  await new Promise((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));

  step('a unary call that would take 5 s, cancelled after 200 ms');
  let before = await cancelled(server, 'UnaryEcho');
  const ended = new Promise((resolve) => {
    const call = client.UnaryEcho({ message: 'slow' }, metadata({ 'x-echo-delay-ms': '5000' }), (error) => {
      resolve(error ? codeName(error) : 'it answered');
    });
    setTimeout(() => call.cancel(), 200); // give up on it: the server is told
  });
  const how = await ended;
  console.log(`   the client stopped waiting: ${how === 'CANCELLED' ? 'cancelled' : how}`);
  let after = await counted(server, 'UnaryEcho', before);
  console.log(`   server's count of cancelled UnaryEcho calls: ${before} -> ${after}`);
  notice('the server counted the call as Canceled at once, not 5 s later: its handler stopped');

  step('a stream of 1000 replies, cancelled after 3');
  before = await cancelled(server, 'ServerStreamingEcho');
  const stream = client.ServerStreamingEcho(
    { message: 'tick' }, metadata({ 'x-echo-count': '1000', 'x-echo-interval-ms': '50' }),
  );
  let n = 0;
  try {
    for await (const _ of stream) {
      console.log(`   reply ${++n}`);
      if (n === 3) stream.cancel(); // the stream then ends with CANCELLED
    }
  } catch (error) {
    console.log(`   the stream ended: ${codeName(error)}`);
  }
  after = await counted(server, 'ServerStreamingEcho', before);
  console.log(`   server's count of cancelled ServerStreamingEcho calls: ${before} -> ${after}`);
  notice('cancel() stopped the stream: the server stopped after 3 of 1000 replies');
  client.close();
}

main(run, cli('Lesson: cancellation, seen by the server.'));
