// The Node lessons' test harness: real server processes, and the lessons run as a
// learner runs them (`node examples/node/...`, from the repository's root), with what
// they printed returned.
//
// The server binary is $GRPC_SHOWCASE_BIN, else $CARGO_TARGET_DIR/debug/grpc-showcase
// (cargo test builds it), else target/debug/grpc-showcase in the repository. Every
// process a test starts is killed when the test ends, pass or fail (t.after), when this
// test process exits, and by the kernel if it dies: each starts under
// `setpriv --pdeathsig KILL` (util-linux) when it is there. Every lesson runs in a
// process group of its own, killed whole (with whatever it started).

'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { grpc, loadHealth, REPOSITORY } = require('../shared');

const DATA = path.join(REPOSITORY, 'examples', 'patterns', 'data'); // demo certificates, tokens
const FIXTURES = path.join(REPOSITORY, 'tests', 'fixtures');
// Bounds for what must happen, generous for a loaded 2-core machine; nothing is timed.
const START_TIMEOUT = 60_000;
const LESSON_TIMEOUT = 240_000;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));

const children = new Set(); // every process started here, for the exit hook
process.on('exit', () => {
  for (const child of children) kill(child);
});

function kill(child) {
  try {
    process.kill(child.group ? -child.pid : child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** [file, args] to run `command`, so that the kernel kills it if this process dies. */
function dyingWithUs(command) {
  const [file, ...args] = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...command] : command;
  return [file, args];
}

function serverBinary() {
  const target = process.env.CARGO_TARGET_DIR || path.join(REPOSITORY, 'target');
  const binary = process.env.GRPC_SHOWCASE_BIN || path.join(target, 'debug', 'grpc-showcase');
  assert.ok(fs.existsSync(binary), `no server binary at ${binary}: cargo build, or set GRPC_SHOWCASE_BIN`);
  return binary;
}

/** `n` addresses of 127.0.0.1 whose ports are free now (bound, then released). */
async function freePorts(n) {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const addresses = servers.map((s) => `127.0.0.1:${s.address().port}`);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return addresses;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server process, its logs collected (see startServer). */
class Server {
  constructor(args) {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-lessons-server-'));
    const command = [serverBinary(), '--data-dir', this.dataDir, '--models-dir', path.join(REPOSITORY, 'models'), ...args];
    this.process = spawn(...dyingWithUs(command), { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(this.process);
    this.logs = '';
    this.exited = new Promise((resolve) => this.process.on('exit', (code, signal) => {
      children.delete(this.process);
      resolve(code ?? signal);
    }));
    this.process.stderr.setEncoding('utf8').on('data', (text) => (this.logs += text));
    this.address = '';
  }

  /** Waits for the first "listening on" log line; returns its address. */
  async waitListening() {
    const deadline = Date.now() + START_TIMEOUT;
    while (Date.now() < deadline && this.process.exitCode === null) {
      const found = this.logs.match(/listening on (\S+)/);
      if (found) return (this.address = found[1]);
      await sleep(50);
    }
    throw new Error(`the server did not say it is listening:\n${this.logs}`);
  }

  /** Waits until health Check on `target` answers SERVING. */
  async waitServing(target, credentials = grpc.credentials.createInsecure(), options = {}) {
    const { Health } = loadHealth();
    const deadline = Date.now() + START_TIMEOUT;
    let last;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) throw new Error(`the server exited:\n${this.logs}`);
      const client = new Health(target, credentials, options);
      try {
        const status = await new Promise((resolve, reject) => client.Check(
          { service: '' }, new grpc.Metadata({ waitForReady: true }), { deadline: Date.now() + 5000 },
          (error, reply) => (error ? reject(error) : resolve(reply.status)),
        ));
        if (status === 'SERVING') return;
      } catch (error) {
        last = error;
      } finally {
        client.close();
      }
      await sleep(100);
    }
    throw new Error(`${target} never answered SERVING (${last}):\n${this.logs}`);
  }

  signal(name) {
    this.process.kill(name);
  }

  /** The exit status (or signal name), within `ms`. */
  async wait(ms = 30_000) {
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the server did not exit')), ms);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer); // a pending timer would keep this test process alive
    }
  }

  async stop() {
    kill(this.process);
    await this.exited;
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Whether the server logs a line with every one of `texts` within `ms`. */
  async logged(texts, ms = 10_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.logs.split('\n').some((l) => texts.every((t) => l.includes(t)))) return true;
      await sleep(50);
    }
    return false;
  }
}

/**
 * Starts a server with `flags` for test `t`, killed when `t` ends. Without --listen it
 * listens on a free port of 127.0.0.1; it returns once that answers health checks
 * (`waitReady: false` for other addresses: the test waits itself). `credentials` and
 * `target` say how to reach it for that check (TLS).
 */
async function startServer(t, flags = [], { waitReady = true, credentials, target } = {}) {
  const args = flags.includes('--listen') ? flags : ['--listen', '127.0.0.1:0', ...flags];
  const server = new Server(args);
  if (t) t.after(() => server.stop()); // else the caller stops it (a file's shared server)
  await server.waitListening();
  if (waitReady) await server.waitServing(target ? target(server.address) : server.address, credentials);
  return server;
}

/**
 * Runs lesson `lesson` (a path under examples/node) with `args`, from the repository's
 * root, in a process group of its own; `onLine(line)` sees each line it prints until it
 * returns true. Fails unless it exits 0; returns what it printed on standard output.
 */
function runLesson(lesson, args = [], onLine = null) {
  const file = path.join(REPOSITORY, 'examples', 'node', lesson);
  assert.ok(fs.existsSync(file), file);
  const child = spawn(...dyingWithUs([process.execPath, path.relative(REPOSITORY, file), ...args]), {
    cwd: REPOSITORY,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: killed whole
  });
  child.group = true;
  children.add(child);
  let out = '';
  let err = '';
  let pending = '';
  let fired = !onLine;
  child.stdout.setEncoding('utf8').on('data', (text) => {
    out += text;
    pending += text;
    let end;
    while ((end = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (!fired) fired = Boolean(onLine(line));
    }
  });
  child.stderr.setEncoding('utf8').on('data', (text) => (err += text));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kill(child);
      reject(new Error(`${lesson} ran over ${LESSON_TIMEOUT} ms:\n${out}\n${err}`));
    }, LESSON_TIMEOUT);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      kill(child); // whatever the lesson started and left behind
      children.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${lesson} failed (${code ?? signal}):\n${out}\n${err}`));
    });
  });
}

/**
 * Starts lesson `lesson` (a program that runs until stopped, as fraud_backend.js) for
 * test `t`, killed when `t` ends; resolves with the match of `ready` (a RegExp) in what
 * it prints, once it prints it.
 */
async function startLesson(t, lesson, args, ready) {
  const child = spawn(...dyingWithUs([process.execPath, path.join('examples', 'node', lesson), ...args]), {
    cwd: REPOSITORY,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.group = true;
  children.add(child);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  t.after(async () => {
    kill(child);
    await exited;
    children.delete(child);
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text) => (out += text));
  const deadline = Date.now() + START_TIMEOUT;
  while (Date.now() < deadline && child.exitCode === null) {
    const found = out.match(ready);
    if (found) return found;
    await sleep(50);
  }
  throw new Error(`${lesson} did not start:\n${out}`);
}

/** The first line of `out` that contains `needle`. */
function line(out, needle) {
  const found = out.split('\n').find((l) => l.includes(needle));
  assert.ok(found !== undefined, `no line with ${JSON.stringify(needle)} in:\n${out}`);
  return found;
}

function assertAll(out, expected) {
  for (const text of expected) assert.ok(out.includes(text), `missing ${JSON.stringify(text)} in:\n${out}`);
}

/** The lines of `out` under the step whose title contains `title`. */
function section(out, title) {
  const at = out.indexOf(title);
  assert.ok(at >= 0, `no step ${JSON.stringify(title)} in:\n${out}`);
  return out.slice(at + title.length).split('\n== ')[0];
}

module.exports = {
  DATA, FIXTURES, REPOSITORY, freePorts, serverBinary, startServer, runLesson, startLesson, line, assertAll, section, sleep,
};
