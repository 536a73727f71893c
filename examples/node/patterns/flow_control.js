// Lesson: flow control. HTTP/2 gives every stream a window of bytes the receiver is
// ready to take; a sender that has used its window waits. So a slow reader slows the
// writer down, through the network, and nobody buffers without bound: memory stays flat
// however fast one side is.
//
//   cargo run --release                            # the server
//   node examples/node/patterns/flow_control.js    # this lesson
//
// grpc-js's ways: a streaming call is a Node stream, with Node's back-pressure. On the
// sending side call.write() returns false once the stream holds its highWaterMark of
// unsent messages (16), and 'drain' says when to go on; each write's callback runs once
// grpc-js has handed that message to HTTP/2, which holds it until the window allows.
// On the receiving side, grpc-js takes the next message off the connection only when
// the stream is read, so a reader that pauses stops the flow. But only once it has
// read: until a stream's first read, grpc-js takes in everything that arrives, with no
// flow control at all (the last step shows it). Start reading a stream early. (The echo
// service's bidirectional call answers each message as it arrives; it reads the next
// one only once its reply to the last could go out.)

'use strict';

const crypto = require('node:crypto');
const { once } = require('node:events');
const { cli, echoClient, step, notice, main } = require('./common');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `total` messages of `body` on `call`, waiting for 'drain' when write() says
 * so; `counter.sent` counts those grpc-js has handed to HTTP/2. */
async function write(call, body, total, counter) {
  for (let i = 0; i < total; i++) {
    if (!call.write({ message: body }, () => (counter.sent += 1))) await once(call, 'drain');
  }
  call.end(); // the end of our side of the stream
}

async function run({ server, messages }) {
  const total = Number(messages);
  const client = echoClient(server);
  // 64 KiB of random text: no compression shrinks it (this server may compress its
  // replies, and 64 KiB of one letter would come back as a hundred bytes).
  const body = crypto.randomBytes(48 * 1024).toString('base64');

  step(`send ${total} messages of 64 KiB, ${Math.floor((total * 64) / 1000)} MB in all; read one reply, then none`);
  let call = client.BidirectionalStreamingEcho();
  let counter = { sent: 0 };
  const writing = write(call, body, total, counter);
  const replies = call[Symbol.asyncIterator](); // reads one reply per next()
  await replies.next();
  await sleep(2000); // a reader busy with something else
  console.log(`   after 2 s without reading: ${counter.sent} of ${total} messages sent, then the sender waited`);
  notice('the server stopped reading once its replies filled our window, and our writes');
  notice('stopped once our messages filled its window: a few MB in flight, not all of them');

  step('now read every reply');
  let read = 1;
  while (!(await replies.next()).done) read += 1;
  await writing;
  console.log(`   read all ${read} replies; ${counter.sent} messages sent`);
  notice('reading opened the windows again, and the writer went on where it had stopped');

  step('the pitfall: 200 messages on a stream nobody has read yet');
  call = client.BidirectionalStreamingEcho();
  counter = { sent: 0 };
  const before = process.memoryUsage().rss;
  const unread = write(call, body, 200, counter);
  await sleep(2000);
  const grew = (process.memoryUsage().rss - before) / 1e6;
  console.log(`   after 2 s, never read: ${counter.sent} of 200 messages sent; this process grew by ${grew.toFixed(0)} MB`);
  notice('before its first read, grpc-js takes every reply into memory: no back-pressure');
  call.on('error', () => {}); // the CANCELLED that cancel() brings: expected
  call.cancel();
  unread.catch(() => {});
  client.close();
}

main(run, cli('Lesson: flow control, a sender stalled by a reader that does not read.', {
  messages: { type: 'string', default: '1000', help: 'messages to send' },
}));
