// Lesson: metadata. A gRPC call carries key-value headers both ways: request headers
// from the client, response headers before the first message, and trailers after the
// last one, with the status. A key ending in -bin carries bytes (base64 on the wire);
// any other key carries ASCII text.
//
//   cargo run --release                          # the server
//   node examples/node/patterns/metadata.js      # this lesson
//
// grpc-js's ways: a grpc.Metadata object passed to the call (`md.set(key, value)`, a
// Buffer for a -bin key); the call's 'metadata' event gives the response headers, its
// 'status' event the status with the trailers (`status.metadata`), for every kind of
// call. The echo service sends every x-echo-* request header back in its response
// headers, and again in its trailers renamed x-echo-trailer-*; it adds x-echo-instance,
// x-echo-peer and x-echo-server-time of its own.

'use strict';

const { once } = require('node:events');
const { cli, echoClient, metadata, step, notice, unary, main } = require('./common');

/** Prints the entries of `md` whose key starts with x-echo. */
function show(what, md) {
  for (const [key, value] of Object.entries(md.getMap())) {
    if (!key.startsWith('x-echo')) continue;
    if (key.endsWith('-bin')) {
      console.log(`   binary ${what} ${key}: [${[...value].join(', ')}]`); // grpc-js gives a Buffer
    } else {
      console.log(`   ${what} ${key}: ${value}`);
    }
  }
}

async function run({ server }) {
  const client = echoClient(server);

  step('request headers: one ASCII, one binary');
  const md = metadata({ 'x-echo-lesson': 'metadata', 'x-echo-trace-bin': Buffer.from([1, 2, 3]) });
  console.log('   sent x-echo-lesson: metadata, and x-echo-trace-bin: [1, 2, 3]');

  step('a server stream: its headers come first, its trailers last');
  const call = client.ServerStreamingEcho({ message: 'hi' }, md);
  const status = once(call, 'status'); // listen before reading: it comes with the end
  const [headers] = await once(call, 'metadata');
  show('header', headers);
  notice('the headers arrived before any message: the server sends them first');
  let messages = 0;
  for await (const _ of call) messages += 1;
  console.log(`   ${messages} messages`);
  const [{ metadata: trailers }] = await status;
  show('trailer', trailers);
  notice('the trailers came after the last message, beside grpc-status');
  notice('the -bin value came back as the same bytes: binary metadata stays binary');

  step('a unary call: headers and trailers, each on its own');
  const result = await unary(client, 'UnaryEcho', { message: 'hi' }, metadata({ 'x-echo-lesson': 'unary' }));
  show('header', result.headers);
  show('trailer', result.trailers);
  notice('grpc-js keeps them apart for every kind of call (x-echo-instance, -peer and');
  notice('-server-time are the server\'s own headers)');
  client.close();
}

main(run, cli('Lesson: metadata, headers and trailers, ASCII and binary.'));
