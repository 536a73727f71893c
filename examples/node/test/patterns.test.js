// The pattern lessons about calls (examples/node/patterns/): metadata, errors,
// deadlines, cancellation, retries, interceptors, compression, multiplexing, flow
// control and reflection. Each runs against a real server as a learner runs it, and
// its output must show the thing it teaches. (Connections: connections.test.js.)

'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { assertAll, line, runLesson, section, startServer } = require('./harness');

let shared;
before(async () => (shared = await startServer(null)));
after(() => shared.stop());

const lesson = (name, server, ...args) => runLesson(`patterns/${name}.js`, ['--server', server.address, ...args]);
const count = (out, text) => out.split(text).length - 1;

test('metadata comes back in headers then trailers, and binary stays binary', async () => {
  const out = await lesson('metadata', shared);
  assertAll(out, [
    'header x-echo-lesson: metadata',
    'binary header x-echo-trace-bin: [1, 2, 3]',
    '3 messages',
    'trailer x-echo-trailer-lesson: metadata',
    'binary trailer x-echo-trailer-trace-bin: [1, 2, 3]',
    'header x-echo-lesson: unary',
    'trailer x-echo-trailer-lesson: unary',
  ]);
  // Headers before the messages, trailers after.
  const header = out.indexOf('header x-echo-lesson: metadata');
  const messages = out.indexOf('3 messages');
  const trailer = out.indexOf('trailer x-echo-trailer-lesson: metadata');
  assert.ok(header < messages && messages < trailer, out);
});

test('error details reads every detail type', async () => {
  const out = await lesson('error_details', shared);
  assertAll(out, [
    'asked UNAVAILABLE        got UNAVAILABLE',
    'RESOURCE_EXHAUSTED: out of echoes',
    'RetryInfo: retry after 100ms',
    'QuotaFailure: echo-demo-quota',
    'ErrorInfo: reason ECHO_DETAIL_REQUESTED',
    'BadRequest: field message',
    'DebugInfo: x-echo-detail asked for debug info',
    'BadRequest: field x-echo-delay-ms',
  ]);
});

test('deadline ends calls, and propagation stops the backend early', async () => {
  const out = await lesson('deadline', shared);
  assert.ok(line(out, 'after ').includes('DEADLINE_EXCEEDED'), out);
  // A stream of 10 replies 100 ms apart, cut at 350 ms: not all of them.
  assert.ok(Number(line(out, 'replies, then DEADLINE_EXCEEDED').trim().split(' ')[0]) < 10, out);
  // The client gave up both times; the backend call ran to its end only without
  // propagation.
  assert.equal(count(out, 'client: DEADLINE_EXCEEDED'), 2, out);
  const backend = out.split('\n').filter((l) => l.includes('frontend: its backend call ended'));
  assert.equal(backend.length, 2, out);
  assert.ok(backend[0].includes('ended OK'), out);
  assert.ok(!backend[1].includes('ended OK'), out);
});

function wentUpByOne(out, method) {
  const [before, after] = line(out, `count of cancelled ${method} calls`).split(': ').pop().split(' -> ').map(Number);
  assert.equal(after, before + 1, out);
}

test('cancellation is seen by the server', async (t) => {
  const server = await startServer(t); // its own: the counts are this lesson's alone
  const out = await lesson('cancellation', server);
  assert.ok(out.includes('the client stopped waiting: cancelled'), out);
  wentUpByOne(out, 'UnaryEcho');
  wentUpByOne(out, 'ServerStreamingEcho');
  assert.ok(out.includes('reply 3') && !out.includes('reply 4'), out);
  // And each handler said it stopped.
  for (const method of ['UnaryEcho', 'ServerStreamingEcho']) {
    assert.ok(await server.logged(['the handler stopped', `"${method}"`]), server.logs);
  }
});

test('retry succeeds on the third attempt and gives up after three', async (t) => {
  const server = await startServer(t); // its own: the lesson counts attempts in its metrics
  const out = await lesson('retry', server);
  const first = section(out, 'fails twice, then succeeds');
  const second = section(out, 'always fails');
  const third = section(out, 'honoured by hand');
  assert.ok(first.includes('succeeded with "hello"'), out);
  assert.ok(first.includes('the server saw 3 attempts: 2 UNAVAILABLE, then 1 OK'), out);
  assert.ok(second.includes('gave up: UNAVAILABLE'), out);
  assert.ok(second.includes('the server saw 3 attempts: 3 UNAVAILABLE, 0 OK'), out);
  assert.equal(count(third, 'RetryInfo says retry in 100ms'), 2, out);
  assert.ok(third.includes('attempt 3: OK, "hello"'), out);
});

test('interceptor adds headers and sees every call', async () => {
  const out = await lesson('interceptor', shared);
  assertAll(out, [
    'first: x-echo-request-id 1 came back',
    'second: x-echo-request-id 2 came back',
    '[log] /grpc.examples.echo.Echo/UnaryEcho',
    '[log] /grpc.examples.echo.Echo/ServerStreamingEcho',
    '3 replies',
  ]);
  assert.equal(count(out, '[log] /grpc.examples.echo.Echo/UnaryEcho'), 2, out);
});

/** The request body's size and how the reply came, for one way of compression. */
function wire(out, name) {
  const text = line(out, `   ${name} `);
  return [Number(text.split('request body')[1].trim().split(' ')[0]), text.split('the reply came back ')[1], text];
}

test('compression shrinks the bytes on the wire; a gzip request gets a gzip reply, a plain one a plain reply', async () => {
  const out = await lesson('compression', shared);
  const [plain, plainReply, plainLine] = wire(out, 'none');
  const [gzip, gzipReply, gzipLine] = wire(out, 'gzip');
  assert.ok(plain > 100_000, out);
  assert.ok(gzip * 10 < plain, out);
  assert.ok(gzipLine.includes('(compressed)') && gzipReply === 'compressed', out);
  // grpc-js lists gzip in grpc-accept-encoding on every call, but an uncompressed
  // request is answered uncompressed.
  assert.ok(plainLine.includes('(plain)') && plainReply === 'plain', out);
});

test('multiplex runs calls side by side on one connection', async () => {
  // Echoes of 1 s each: one after another, ten would take at least 10 s.
  const out = await lesson('multiplex', shared, '--delay-ms', '1000');
  const answered = line(out, 'calls answered in');
  assert.ok(answered.includes('20 calls'), out);
  assert.ok(Number(answered.match(/answered in ([0-9.]+) s/)[1]) < 10, out);
  assert.ok(out.includes('the echoes all came from one client address: true'), out);
});

test('flow control stalls a sender whose replies are not read', async () => {
  const out = await lesson('flow_control', shared);
  const stalled = Number(line(out, 'without reading:').split('reading: ')[1].split(' ')[0]);
  // Some messages went (the windows' worth), far from all 1000 (64 MB).
  assert.ok(stalled > 0 && stalled < 500, out);
  assert.ok(out.includes('read all 1000 replies; 1000 messages sent'), out);
  // grpc-js's gap: before the first read, nothing holds the replies back.
  assert.ok(out.includes('never read: 200 of 200 messages sent'), out);
});

test('reflection lists, describes and calls with no .proto file', async () => {
  for (const version of ['v1', 'v1alpha']) {
    const out = await lesson('reflection', shared, '--reflection-version', version);
    assertAll(out, [
      '   grpc.examples.echo.Echo\n',
      '   helloworld.Greeter\n',
      'grpc.examples.echo.Echo (from echo.proto)',
      'rpc UnaryEcho(.grpc.examples.echo.EchoRequest) returns (.grpc.examples.echo.EchoResponse): unary',
      'rpc BidirectionalStreamingEcho(.grpc.examples.echo.EchoRequest) returns ' +
        '(.grpc.examples.echo.EchoResponse): bidirectional streaming',
      '// UnaryEcho is unary echo',
      'grpc.examples.echo.Echo.UnaryEcho: "found by reflection" came back',
    ]);
  }
});
