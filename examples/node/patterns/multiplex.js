// Lesson: multiplexing. One HTTP/2 connection (a grpc-js channel) carries many calls at
// once, to any services of the server, each on its own stream: no connection per call,
// no waiting for the call before.
//
//   cargo run --release                         # the server
//   node examples/node/patterns/multiplex.js    # this lesson
//
// grpc-js's ways: every call is asynchronous already, so starting many is just not
// waiting between them; Promise.all waits for them all. Clients of two services share
// one channel with the client option `channelOverride: other.getChannel()` (clients
// made alike share connections anyway, through grpc-js's subchannel pool).

'use strict';

const { cli, echoClient, grpc, header, load, metadata, step, notice, unary, main } = require('./common');

const { helloworld } = load('helloworld.proto');

async function run({ server, calls, 'delay-ms': delayMs }) {
  [calls, delayMs] = [Number(calls), Number(delayMs)];
  const echo = echoClient(server);
  const greeter = new helloworld.Greeter(server, grpc.credentials.createInsecure(), {
    channelOverride: echo.getChannel(), // the same channel: one connection for both
  });
  // Connect first, so that only the calls are timed.
  await new Promise((resolve, reject) => echo.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));

  const slowEcho = async (i) => {
    const md = metadata({ 'x-echo-delay-ms': String(delayMs) });
    const { headers } = await unary(echo, 'UnaryEcho', { message: `echo ${i}` }, md);
    return header(headers, 'x-echo-peer'); // our address, as the server saw it
  };
  const greeting = async (i) => (await unary(greeter, 'SayHello', { name: `caller ${i}` })).reply.message;

  step(`${calls} echo calls of ${delayMs} ms each, and ${calls} greetings, all at once on one channel`);
  const started = Date.now();
  const indices = [...Array(calls).keys()];
  const answers = await Promise.all([...indices.map(slowEcho), ...indices.map(greeting)]);
  const seconds = (Date.now() - started) / 1000;
  console.log(`   ${answers.length} calls answered in ${seconds.toFixed(2)} s on one channel`);
  const peers = new Set(answers.slice(0, calls));
  console.log(`   the echoes all came from one client address: ${peers.size === 1} (${[...peers].join(', ')})`);
  notice(`${calls} calls of ${delayMs} ms took about ${delayMs} ms, not ${(calls * delayMs) / 1000} s:`);
  notice('they ran side by side, each on its own HTTP/2 stream of one connection;');
  notice('the greetings did not wait behind the slow echoes');
  echo.close();
}

main(run, cli('Lesson: many calls at once on one connection.', {
  calls: { type: 'string', default: '10', help: 'echo calls (and as many greetings)' },
  'delay-ms': { type: 'string', default: '200', help: 'how long each echo takes' },
}));
