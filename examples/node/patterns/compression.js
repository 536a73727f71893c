// Lesson: compression. gRPC compresses messages one by one (gzip, deflate, zstd...),
// chosen per channel or per call: fewer bytes on the wire for more CPU on both ends.
// The sender says which encoding it used (the grpc-encoding header) and which ones it
// takes back (grpc-accept-encoding); this server answers in the encoding the request
// came in, so a compressed request gets a compressed reply and a plain one a plain reply.
//
//   cargo run --release                           # the server
//   node examples/node/patterns/compression.js    # this lesson
//
// grpc-js's ways: the channel option 'grpc.default_compression_algorithm' (0 none,
// 1 deflate, 2 gzip) compresses every message a client sends; grpc-js has gzip and
// deflate, not zstd. It decompresses replies without telling the application how they
// came (it takes grpc-encoding out of the headers it hands over). So the lesson puts a
// small relay between itself and the server (wire.js) that reads the gRPC messages on
// the wire: their size, and the flag each message carries that says it is compressed.

'use strict';

const assert = require('node:assert/strict');
const { cli, echoClient, step, notice, unary, main } = require('./common');
const { Relay } = require('./wire');

async function run({ server }) {
  const relay = await Relay.start(server);
  try {
    // 100 KB of text that repeats, as JSON or logs do.
    const message = 'the quick brown fox jumps over the lazy dog; '.repeat(2300);
    step(`the same ${Math.floor(message.length / 1000)} KB message, two ways`);
    for (const [name, algorithm] of [['none', 0], ['gzip', 2]]) {
      // A client (a channel) per way: compression is a channel option in grpc-js.
      const client = echoClient(relay.target, { 'grpc.default_compression_algorithm': algorithm });
      await unary(client, 'UnaryEcho', { message: 'warm up' }); // connect first
      const [asked, answered] = [relay.requests.messages.length, relay.replies.messages.length];
      const { reply } = await unary(client, 'UnaryEcho', { message });
      assert.equal(reply.message, message); // grpc-js decompressed it for us
      const request = relay.requests.messages[asked];
      const response = relay.replies.messages[answered];
      const how = (m) => (m.compressed ? 'compressed' : 'plain');
      console.log(
        `   ${name.padEnd(5)} request body ${String(request.length).padStart(7)} bytes (${how(request)}); ` +
          `reply body ${String(response.length).padStart(7)} bytes: the reply came back ${how(response)}`,
      );
      client.close();
    }
  } finally {
    relay.close();
  }
  notice('the channel option compresses what this client sends; the server answered in kind.');
  notice('Small or random messages gain nothing: compress big, repetitive ones');
}

main(run, cli('Lesson: compression, seen on the wire.'));
