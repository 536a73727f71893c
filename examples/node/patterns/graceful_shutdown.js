// Lesson: graceful shutdown. A server that is asked to stop (SIGTERM, Ctrl-C) first
// says so: health goes NOT_SERVING, each connection gets an HTTP/2 GOAWAY (no new calls
// on it), and the calls already in flight get time to finish. Then it exits.
//
//   cargo build --release --bin grpc-showcase   # this lesson starts, and stops, a server
//   node examples/node/patterns/graceful_shutdown.js --server-bin target/release/grpc-showcase
//
// It runs the server binary that --server-bin names (default: $GRPC_SHOWCASE_BIN, else
// grpc-showcase on the PATH, else the workspace's target/release or target/debug
// build) on a free port of 127.0.0.1, and sends it SIGTERM.

'use strict';

const { spawn, execFileSync } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  cli, echoClient, grpc, loadHealth, metadata, metric, outcome, REPOSITORY, step, notice, unary, main,
} = require('./common');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function defaultServerBin() {
  if (process.env.GRPC_SHOWCASE_BIN) return process.env.GRPC_SHOWCASE_BIN;
  try {
    return execFileSync('sh', ['-c', 'command -v grpc-showcase'], { encoding: 'utf8' }).trim();
  } catch {
    const target = process.env.CARGO_TARGET_DIR || path.join(REPOSITORY, 'target');
    return ['release', 'debug'].map((p) => path.join(target, p, 'grpc-showcase')).find((p) => fs.existsSync(p));
  }
}

/** Starts the server; resolves its process and address once it logs "listening on". */
async function startServer(serverBin, data) {
  const server = spawn(serverBin, ['--listen', '127.0.0.1:0', '--shutdown-grace', '10s', '--data-dir', data,
    '--models-dir', path.join(REPOSITORY, 'models')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  // Keep reading its logs, or the server would block once the pipe is full.
  server.stderr.setEncoding('utf8').on('data', (text) => (logs += text));
  for (let i = 0; i < 600 && server.exitCode === null; i++) {
    const found = logs.match(/listening on (\S+)/);
    if (found) return { server, address: found[1] };
    await sleep(100);
  }
  throw new Error(`the server did not start:\n${logs}`);
}

async function run({ 'server-bin': serverBin }) {
  if (!serverBin) throw new Error('no grpc-showcase binary found: build it, or give --server-bin');
  step('start a server');
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'graceful-shutdown-lesson-'));
  const { server, address } = await startServer(serverBin, data);
  const exited = once(server, 'exit');
  try {
    console.log(`   listening on ${address}`);
    const echo = echoClient(address);
    const { Health } = loadHealth();
    const health = new Health(address, grpc.credentials.createInsecure(), { channelOverride: echo.getChannel() });
    const watch = health.Watch({ service: '' });
    watch.on('error', () => {}); // it ends with the server: expected
    const statuses = watch[Symbol.asyncIterator]();
    console.log(`   health: ${(await statuses.next()).value.status}`);

    step('a call that takes 1.5 s is in flight; the server gets SIGTERM');
    const started = Date.now();
    const inFlight = unary(echo, 'UnaryEcho', { message: 'almost done' }, metadata({ 'x-echo-delay-ms': '1500' }));
    inFlight.catch(() => {}); // read below
    // Wait until the server has the call (its metrics count it in flight).
    for (let i = 0; i < 200 && (await metric(address, 'grpc_server_in_flight', 'UnaryEcho')) === 0; i++) await sleep(50);
    server.kill('SIGTERM');
    console.log(`   health: ${(await statuses.next()).value.status}`);
    notice('the watcher heard NOT_SERVING first: time for a load balancer to look elsewhere');

    await sleep(200);
    const deadline = () => ({ deadline: Date.now() + 10_000 });
    console.log(`   a new call: ${await outcome(unary(echo, 'UnaryEcho', { message: 'new' }, undefined, deadline()))}`);
    notice('the connection got a GOAWAY: no new call on it; grpc-js tried to connect again,');
    notice('found the port closed, and failed the call with UNAVAILABLE: safe to send elsewhere');
    // A client of its own connections: grpc-js otherwise shares them between clients.
    const fresh = echoClient(address, { 'grpc.use_local_subchannel_pool': 1 });
    const again = await outcome(unary(fresh, 'UnaryEcho', { message: 'again' }, undefined, deadline()));
    console.log(`   on a new connection: ${again}`);
    notice('the port is closed: UNAVAILABLE, the code clients retry on another instance');

    let result;
    try {
      result = `OK, "${(await inFlight).reply.message}"`;
    } catch (error) {
      result = grpc.status[error.code];
    }
    console.log(`   the call in flight: ${result} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    notice('the call already running was allowed to finish (--shutdown-grace)');
    [echo, fresh, health].forEach((c) => c.close());
    const [code] = await Promise.race([exited, sleep(30_000).then(() => ['(still running after 30 s)'])]);
    console.log(`   the server exited with status ${code}`);
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL'); // never leave it running
    fs.rmSync(data, { recursive: true, force: true });
  }
}

main(run, cli('Lesson: graceful shutdown, seen from the clients.', {
  'server-bin': { type: 'string', default: defaultServerBin(), help: 'the server binary' },
}, { server: false }));
