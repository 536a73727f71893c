// The pattern lessons about connections and servers (examples/node/patterns/):
// authentication, TLS, keepalive, wait-for-ready, health, graceful shutdown, load
// balancing, name resolving and Unix sockets. Each runs against real servers as a
// learner runs it, and its output must show the thing it teaches.

'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const { grpc } = require('../shared');
const { DATA, assertAll, freePorts, runLesson, section, serverBinary, startServer } = require('./harness');

test('authentication tells UNAUTHENTICATED from PERMISSION_DENIED', async (t) => {
  const server = await startServer(t, ['--auth-tokens', path.join(DATA, 'tokens.json')]);
  const out = await runLesson('patterns/authentication.js', ['--server', server.address]);
  assert.ok(section(out, 'calls with no token').includes('Greeter/SayHello: UNAUTHENTICATED'), out);
  assert.ok(section(out, 'calls with a wrong token').includes('Echo/UnaryEcho:   UNAUTHENTICATED'), out);
  const greeterOnly = section(out, 'calls with the greeter-only token');
  assert.ok(greeterOnly.includes('Greeter/SayHello: OK'), out);
  assert.ok(greeterOnly.includes('Echo/UnaryEcho:   PERMISSION_DENIED'), out);
  const admin = section(out, 'calls with the admin token');
  assert.ok(admin.includes('Greeter/SayHello: OK') && admin.includes('Echo/UnaryEcho:   OK'), out);
  assert.ok(section(out, 'for a whole channel').includes('refused: Cannot compose insecure credentials'), out);
  assert.ok(section(out, 'as plain metadata').includes('Echo/UnaryEcho:   OK'), out);
});

test('TLS needs the CA, and mutual TLS the client certificate', async (t) => {
  const read = (name) => fs.readFileSync(path.join(DATA, name));
  const server = await startServer(t, [
    '--tls-cert', path.join(DATA, 'server.pem'), '--tls-key', path.join(DATA, 'server.key'),
    '--tls-client-ca', path.join(DATA, 'ca.pem'),
  ], {
    credentials: grpc.credentials.createSsl(read('ca.pem'), read('client.key'), read('client.pem')),
    target: (address) => `localhost:${address.split(':').pop()}`,
  });
  const port = server.address.split(':').pop();
  const out = await runLesson('patterns/tls.js', ['--server', `localhost:${port}`, '--certs', DATA]);
  assert.ok(!section(out, 'plaintext').includes('OK'), out);
  assert.ok(section(out, 'bundled root CAs').includes('unable to verify the first certificate'), out);
  assert.ok(section(out, 'without a client certificate').includes('certificate required'), out);
  assert.ok(section(out, 'mutual TLS').includes('OK, "secret" came back'), out);
});

test('keepalive keeps answering connections and drops silent ones', async (t) => {
  const server = await startServer(t, ['--http2-keepalive-interval', '1s', '--http2-keepalive-timeout', '1s']);
  const out = await runLesson('patterns/keepalive.js', ['--server', server.address]);
  assertAll(out, ['the same connection: true', 'still open = true', 'the server closed the connection']);
});

test('wait for ready fails fast, then waits for the server', async (t) => {
  const [address] = await freePorts(1);
  let started = null;
  const out = await runLesson('patterns/wait_for_ready.js', ['--server', address, '--wait', '60'], (text) => {
    if (!text.includes('waiting for a server')) return false;
    started = startServer(t, ['--listen', address], { waitReady: false });
    return true;
  });
  assert.ok(started, out);
  await started;
  assert.ok(out.includes('failed fast after') && section(out, 'fail fast').includes('UNAVAILABLE'), out);
  assertAll(out, ['connected after', 'the call: OK, "ready" came back', 'the call: OK, "configured" came back']);
});

test('health watch sees NOT_SERVING and fails over', async (t) => {
  const primary = await startServer(t, ['--instance-name', 'primary']);
  const backup = await startServer(t, ['--instance-name', 'backup']);
  const args = ['--server', primary.address, '--backup', backup.address, '--wait', '60'];
  const out = await runLesson('patterns/health.js', args, (text) => {
    if (!text.includes('watching the primary')) return false;
    primary.signal('SIGTERM');
    return true;
  });
  assertAll(out, [
    '"": SERVING',
    '"no.such.Service": NOT_FOUND',
    'answered by primary',
    'watching the primary: SERVING',
    'the primary is NOT_SERVING: failing over',
    'the backup is SERVING',
    'answered by backup',
  ]);
  assert.equal(await primary.wait(), 0);
});

test('graceful shutdown drains, then refuses', async () => {
  const out = await runLesson('patterns/graceful_shutdown.js', ['--server-bin', serverBinary()]);
  assertAll(out, [
    'health: SERVING',
    'health: NOT_SERVING',
    'a new call: UNAVAILABLE',
    'on a new connection: UNAVAILABLE',
    'the call in flight: OK, "almost done"',
    'the server exited with status 0',
  ]);
});

/** The calls each instance answered under step `title`. */
function counts(out, title) {
  const found = new Map();
  for (const text of section(out, title).split('\n')) {
    const match = text.trim().match(/^(\S+): (\d+) calls$/);
    if (match) found.set(match[1], Number(match[2]));
  }
  return found;
}
const sum = (map) => [...map.values()].reduce((a, b) => a + b, 0);

test('load balancing spreads calls over the instances', async (t) => {
  const addresses = await freePorts(3);
  const server = await startServer(t, addresses.flatMap((a) => ['--listen', a]), { waitReady: false });
  for (const address of addresses) await server.waitServing(address);
  const out = await runLesson('patterns/load_balancing.js', ['--servers', addresses.join(',')]);
  assert.equal(counts(out, 'one channel to the first instance').size, 1, out);
  assert.deepEqual([...counts(out, 'round robin by hand').values()], [10, 10, 10], out);
  assert.deepEqual([...counts(out, 'default policy (pick_first)').values()], [30], out);
  const balanced = counts(out, 'round_robin in the service config');
  assert.ok(balanced.size >= 2 && sum(balanced) === 30, out);
});

test('name resolving follows the instances that come and go, in one channel', async (t) => {
  const [first, second] = await freePorts(2);
  const server = await startServer(t, ['--listen', first, '--listen', second], { waitReady: false });
  await server.waitServing(first);
  await server.waitServing(second);
  const out = await runLesson('patterns/name_resolving.js', ['--first', first, '--second', second]);
  const found = counts(out, 'finds the first instance');
  assert.ok(found.size === 1 && [...found.keys()][0].endsWith(first.split(':')[1]), out);
  const added = counts(out, 'the resolver adds it');
  assert.ok(added.size === 2 && sum(added) === 20, out);
  const removed = counts(out, 'the resolver removes it');
  assert.equal(removed.size, 1, out);
  const [[instance, calls]] = removed;
  assert.ok(instance.endsWith(second.split(':')[1]) && calls === 20, out);
});

test('unix socket reaches the server through a file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-unix-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'lesson.sock');
  const [address] = await freePorts(1);
  const server = await startServer(t, ['--listen', address, '--listen', `unix:${socket}`], { waitReady: false });
  await server.waitServing(`unix:${socket}`);
  const out = await runLesson('patterns/unix_socket.js', ['--socket', socket]);
  const pid = out.match(/this process is pid (\d+)/)[1];
  assert.ok(out.includes(`:unix, peer unix socket, pid ${pid}`), out); // the server saw our pid
  assert.ok(out.includes('"over a socket file" came back'), out);
  // The socket's file goes with the server.
  server.signal('SIGTERM');
  assert.equal(await server.wait(), 0);
  assert.ok(!fs.existsSync(socket));
});
