// Lesson: keepalive. HTTP/2 PING frames check that the other side of an idle
// connection is still there: a client pings to keep NATs and proxies from dropping a
// quiet connection, and a server pings to find clients that vanished (a laptop closed,
// a network gone) and free what they held. A side that does not answer in time is
// disconnected.
//
//   cargo run --release -- --http2-keepalive-interval 1s --http2-keepalive-timeout 1s
//   node examples/node/patterns/keepalive.js
//
// grpc-js's ways: channel options. 'grpc.keepalive_time_ms' (ping after this long),
// 'grpc.keepalive_timeout_ms' (close if no answer by then) and
// 'grpc.keepalive_permit_without_calls' (ping even with no call open). grpc-js (Node's
// http2) always answers the server's pings; to show a client that does not, the second
// step speaks HTTP/2 by hand on a plain socket (wire.js), answering pings, then no longer.

'use strict';

const net = require('node:net');
const { once } = require('node:events');
const { cli, echoClient, header, step, notice, unary, main } = require('./common');
const { ACK, GOAWAY, PING, PREFACE, SETTINGS, FrameReader, frame } = require('./wire');

const KEEPALIVE = {
  'grpc.keepalive_time_ms': 500,
  'grpc.keepalive_timeout_ms': 1000,
  'grpc.keepalive_permit_without_calls': 1,
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The client address the server saw, from the echo service's x-echo-peer. */
async function peer(client) {
  const { headers } = await unary(client, 'UnaryEcho', { message: 'ping?' }, undefined, { deadline: Date.now() + 10_000 });
  return header(headers, 'x-echo-peer');
}

/** A hand-made HTTP/2 client connection: it answers the server's PINGs while
 * `answering` is true, and `state` says how the connection is. */
async function rawConnection(server) {
  const at = server.lastIndexOf(':');
  const socket = net.connect(Number(server.slice(at + 1)), server.slice(0, at));
  await once(socket, 'connect');
  const connection = { socket, answering: true, state: 'open' };
  const reader = new FrameReader((kind, flags, _stream, payload) => {
    if (kind === GOAWAY) connection.state = 'closed by the server (GOAWAY)';
    if (!connection.answering) return;
    if (kind === PING && !(flags & ACK)) socket.write(frame(PING, ACK, 0, payload)); // "still here"
    if (kind === SETTINGS && !(flags & ACK)) socket.write(frame(SETTINGS, ACK, 0));
  });
  socket.on('data', (data) => reader.feed(data));
  socket.on('close', () => {
    if (connection.state === 'open') connection.state = 'closed by the server';
  });
  socket.on('error', () => {});
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)])); // all a client must say to begin
  return connection;
}

async function run({ server, idle }) {
  const idleMs = Number(idle) * 1000;

  step('a grpc-js channel with keepalive on, idle, then called again');
  const client = echoClient(server, KEEPALIVE);
  const before = await peer(client);
  await sleep(idleMs);
  const after = await peer(client);
  client.close();
  console.log(`   connected from ${before}; after ${idle} s idle, from ${after}`);
  console.log(`   the same connection: ${before === after}`);
  notice('both sides pinged while idle, both answered: the connection stayed up');

  step('a hand-made HTTP/2 connection that answers pings, then stops');
  const connection = await rawConnection(server);
  await sleep(idleMs);
  console.log(`   answering pings for ${idle} s: still open = ${connection.state === 'open'}`);
  connection.answering = false;
  console.log(`   now not answering for ${idle} s: the server's pings go unanswered`);
  await sleep(idleMs + 2000);
  if (connection.state === 'open') console.log('   the connection is still open');
  else console.log(`   the server closed the connection: ${connection.state}`);
  connection.socket.destroy();
  notice('the server\'s ping went unanswered past its keepalive timeout, so it hung up:');
  notice('a client that vanished does not hold a connection, or its streams, forever');
}

main(run, cli('Lesson: keepalive pings, answered and not.', {
  idle: { type: 'string', default: '3', help: 'seconds to stay idle (more than the server\'s interval plus timeout)' },
}));
