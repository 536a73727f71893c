// Lesson: interceptors. Code that runs on every call, around the call itself: here one
// interceptor adds headers to every request (a bearer token and a request id), and
// another logs and times every call, whatever its RPC style.
//
//   cargo run --release                           # the server
//   node examples/node/patterns/interceptor.js    # this lesson
//
// grpc-js's ways: an interceptor is a function (options, nextCall) that returns a
// grpc.InterceptingCall around nextCall(options); its requester's start(metadata,
// listener, next) may change the request headers and wrap the listener that hears the
// response (onReceiveMetadata, onReceiveMessage, onReceiveStatus). The same function
// serves unary and streaming calls alike. A client takes them in its options
// ({ interceptors: [...] }), or a single call in its call options. The echo service
// sends back every x-echo-* header: the request id the interceptor added comes back,
// which shows it was really sent.

'use strict';

const { cli, echoClient, grpc, header, metadata, step, notice, unary, main } = require('./common');

/** Adds `authorization` and a fresh `x-echo-request-id` to every request. */
function addHeaders() {
  let ids = 0;
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(md, listener, next) {
      md.set('authorization', 'Bearer lesson-token');
      md.set('x-echo-request-id', String(++ids));
      next(md, listener);
    },
  });
}

/** Prints each call's method and how long its response headers took to come. */
function log(options, nextCall) {
  const method = options.method_definition.path;
  return new grpc.InterceptingCall(nextCall(options), {
    start(md, listener, next) {
      const started = process.hrtime.bigint();
      next(md, {
        ...listener,
        onReceiveMetadata(headers, nextListener) {
          const took = Number(process.hrtime.bigint() - started) / 1e6;
          console.log(`   [log] ${method}: response headers after ${took.toFixed(1)} ms`);
          nextListener(headers);
        },
      });
    },
  });
}

async function run({ server }) {
  // The first interceptor listed is the outermost: log sees the call first.
  const client = echoClient(server, { interceptors: [log, addHeaders()] });

  step('two unary calls through the interceptors');
  for (const message of ['first', 'second']) {
    const { headers } = await unary(client, 'UnaryEcho', { message });
    console.log(`   ${message}: x-echo-request-id ${header(headers, 'x-echo-request-id', '(none)')} came back`);
  }
  notice('the interceptor added the headers; the server echoed the request id it received');

  step('a server stream, through the same interceptors');
  let replies = 0;
  for await (const _ of client.ServerStreamingEcho({ message: 'tick' }, metadata({ 'x-echo-count': '3' }))) {
    replies += 1;
  }
  console.log(`   ${replies} replies`);
  notice('the interceptors saw every call, whatever its RPC style');
  client.close();
}

main(run, cli('Lesson: client interceptors that add headers and log every call.'));
