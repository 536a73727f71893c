// Seed 000's backend (examples/node/fraud_backend.js), through HTTP as its clients use
// it: a verdict from the real fraud model over gRPC, and each error its clients must
// tell apart (400, 401, 403, 503).

'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const { freePorts, startLesson, startServer } = require('./harness');

const TOKEN = 'demo-fraud-token-not-a-secret'; // the demo table's fraud:predict token
const READ_ONLY = 'demo-readonly-token-not-a-secret'; // the demo table's fraud:read token
const TRANSACTION = { transaction_id: 42, amount: 1899, time: 1749956400, age_of_account: 3, number_of_transactions: 1 };

/** Starts the backend in front of gRPC server `target`; returns its URL. */
async function startBackend(t, target, ...flags) {
  const [, url] = await startLesson(t, 'fraud_backend.js', ['--listen', '127.0.0.1:0', '--server', target, ...flags],
    /listening on (http:\S+)/);
  return url;
}

/** POSTs `body` to `url` with `token` (if any); resolves [status, JSON answer]. */
async function post(url, body, token = TOKEN) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(url, { method: 'POST', headers, body: text });
  return [response.status, await response.json()];
}

test('a transaction gets the seed\'s verdict from the fraud model', async (t) => {
  const server = await startServer(t);
  const url = await startBackend(t, server.address);
  const [status, verdict] = await post(url, TRANSACTION);
  assert.equal(status, 200, JSON.stringify(verdict));
  assert.deepEqual(Object.keys(verdict).sort(), ['fraud_probability', 'predicted_label', 'transaction_id']);
  assert.equal(verdict.transaction_id, 42);
  // The model's verdict on this one (fraud_detection.js's "electronics at 3 a.m.").
  assert.equal(verdict.predicted_label, true);
  assert.ok(verdict.fraud_probability > 0.5 && verdict.fraud_probability < 0.55, String(verdict.fraud_probability));
  const [, coffee] = await post(url, { ...TRANSACTION, amount: 4.5, time: 1750000000, age_of_account: 2400 });
  assert.equal(coffee.predicted_label, false);
  assert.ok(coffee.fraud_probability < 0.01, String(coffee.fraud_probability));
});

test('bad input is 400 naming the field', async (t) => {
  const server = await startServer(t);
  const url = await startBackend(t, server.address);
  const cases = [
    [{ ...TRANSACTION, amount: 'a lot' }, 'amount'],
    [{ ...TRANSACTION, age_of_account: 2.5 }, 'age_of_account'],
    [(({ time, ...rest }) => rest)(TRANSACTION), 'time'], // missing
    [{ ...TRANSACTION, colour: 'red' }, 'colour'], // unknown
    [{ ...TRANSACTION, amount: -20 }, 'amount'], // the fraud service's own check, over gRPC
  ];
  for (const [body, field] of cases) {
    const [status, answer] = await post(url, body);
    assert.equal(status, 400, JSON.stringify(answer));
    assert.equal(answer.error.field, field, JSON.stringify(answer));
    assert.ok(answer.error.message.includes(field), JSON.stringify(answer));
  }
  const [status, answer] = await post(url, '{"transaction_id": ');
  assert.equal(status, 400, JSON.stringify(answer));
});

test('no token is 401, a token without the permission 403', async (t) => {
  const server = await startServer(t);
  const url = await startBackend(t, server.address);
  let [status, answer] = await post(url, TRANSACTION, null);
  assert.equal(status, 401, JSON.stringify(answer));
  [status, answer] = await post(url, TRANSACTION, 'not-a-token-anyone-has');
  assert.equal(status, 401, JSON.stringify(answer));
  [status, answer] = await post(url, TRANSACTION, READ_ONLY);
  assert.equal(status, 403, JSON.stringify(answer));
  assert.ok(answer.error.message.includes('fraud:predict'), JSON.stringify(answer));
});

test('a token table from a file replaces the demo one', async (t) => {
  const server = await startServer(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-backend-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tokens.json');
  const table = [{ name: 'test', token: 'test-token-of-this-test', permissions: ['fraud:predict'] }];
  fs.writeFileSync(file, JSON.stringify(table));
  const url = await startBackend(t, server.address, '--tokens', file);
  assert.equal((await post(url, TRANSACTION, 'test-token-of-this-test'))[0], 200);
  assert.equal((await post(url, TRANSACTION, TOKEN))[0], 401); // the demo token is gone
});

test('an unreachable fraud service is 503', async (t) => {
  // A port nobody listens on ...
  const [nobody] = await freePorts(1);
  let url = await startBackend(t, nobody);
  let [status, answer] = await post(url, TRANSACTION);
  assert.equal(status, 503, JSON.stringify(answer));
  // ... and a server that was there, then stopped.
  const server = await startServer(t);
  url = await startBackend(t, server.address);
  assert.equal((await post(url, TRANSACTION))[0], 200);
  await server.stop();
  [status, answer] = await post(url, TRANSACTION);
  assert.equal(status, 503, JSON.stringify(answer));
  assert.equal(answer.error.status, 'UNAVAILABLE');
});
