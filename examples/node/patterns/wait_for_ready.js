// Lesson: wait for ready. A call to a server that is not up yet fails at once with
// UNAVAILABLE ("fail fast", the default); a client that should ride out a server's
// restart instead waits for the connection, up to its deadline ("wait for ready").
//
//   node examples/node/patterns/wait_for_ready.js --server localhost:50052   # first
//   cargo run --release -- --listen 127.0.0.1:50052                          # then
//
// grpc-js's ways: a call's metadata made with `new grpc.Metadata({ waitForReady: true })`
// (a Metadata option in grpc-js, not a call option), or "waitForReady": true in the
// service config for every call of a method. While it has no connection, a grpc-js
// channel tries again and again, waiting longer each time; the channel options
// 'grpc.initial_reconnect_backoff_ms' and 'grpc.max_reconnect_backoff_ms' bound those
// waits (here to 1 s at most, so the call goes through soon after the server is up).

'use strict';

const { cli, codeName, echoClient, grpc, step, notice, unary, main } = require('./common');

const RECONNECT = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 };
const WAIT_FOR_READY = JSON.stringify({
  methodConfig: [{ name: [{ service: 'grpc.examples.echo.Echo' }], waitForReady: true }],
});

async function run({ server, wait }) {
  const waitMs = Number(wait) * 1000;
  let client = echoClient(server, RECONNECT);

  step('fail fast: one call, no waiting');
  let started = Date.now();
  try {
    await unary(client, 'UnaryEcho', { message: 'now?' }, undefined, { deadline: Date.now() + waitMs });
    console.log('   the server is already up: stop it, or pick another --server, to see this fail');
  } catch (error) {
    console.log(`   failed fast after ${Date.now() - started} ms: ${codeName(error)}: ${error.details}`);
  }
  notice('the default: a caller learns at once that the server is down, and decides');

  step(`wait for ready: waiting for a server at ${server} (up to ${wait} s)`);
  started = Date.now();
  const waiting = new grpc.Metadata({ waitForReady: true });
  let { reply } = await unary(client, 'UnaryEcho', { message: 'ready' }, waiting, { deadline: Date.now() + waitMs });
  console.log(`   connected after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`   the call: OK, "${reply.message}" came back`);
  notice('the call waited for the server instead of failing: right for a client that');
  notice('starts with its server, or rides out a restart; bound it with a deadline');
  client.close();

  step('the same for every call of a channel: waitForReady in the service config');
  client = echoClient(server, { ...RECONNECT, 'grpc.service_config': WAIT_FOR_READY });
  ({ reply } = await unary(client, 'UnaryEcho', { message: 'configured' }, undefined, { deadline: Date.now() + waitMs }));
  console.log(`   the call: OK, "${reply.message}" came back`);
  client.close();
}

main(run, cli('Lesson: fail fast, or wait for the server to be ready.', {
  wait: { type: 'string', default: '60', help: 'seconds to wait for the server' },
}));
