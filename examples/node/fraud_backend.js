// Seed 000's backend: a small REST service in front of the fraud model. It follows the
// seed's drawing: a client (a web page, a shop's checkout) calls a Node backend over
// HTTP with JSON, and the backend calls the fraud model over gRPC
// (fraud_detection.FraudDetectionService/PredictFraud on the showcase server).
//
//   cargo run --release                                   # the gRPC server
//   node examples/node/fraud_backend.js                   # this backend, on 127.0.0.1:8080
//   curl -s -H 'authorization: Bearer demo-fraud-token-not-a-secret' \
//     -d '{"transaction_id": 42, "amount": 1899, "time": 1749956400, "age_of_account": 3, "number_of_transactions": 1}' \
//     http://127.0.0.1:8080/api/FraudActivity
//   # {"transaction_id":42,"predicted_label":true,"fraud_probability":0.5235...}
//
// POST /api/FraudActivity takes the transaction as JSON (every field of
// proto/fraud_detection.proto's PredictionRequest, no other) and answers
// {transaction_id, predicted_label, fraud_probability}. Callers send a bearer token
// (`Authorization: Bearer <token>`); the token table says what each may do, and scoring
// needs the permission fraud:predict. Errors are JSON {"error": {code, status, message,
// field}}: 400 a bad body (naming the field), 401 no or unknown token, 403 a token
// without the permission, 404/405 another path or method, 413 a body over 64 KiB, 502
// the model service failed, 503 it is unreachable, 504 it did not answer in time.
//
// The token table: --tokens FILE (or $FRAUD_BACKEND_TOKENS), a JSON list of
// {"name", "token", "permissions": [...]}. Without it, the demo table below: tokens in
// this repository are for the demo only, never for real use (make real ones with
// `openssl rand -hex 32`, and keep them out of the repository).

'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { grpc, load, codeName, errorDetails, unary, cli } = require('./shared');

const { fraud_detection: fraud } = load('fraud_detection.proto');
const DEMO_TOKENS = [
  { name: 'demo-checkout', token: 'demo-fraud-token-not-a-secret', permissions: ['fraud:predict'] },
  { name: 'demo-dashboard', token: 'demo-readonly-token-not-a-secret', permissions: ['fraud:read'] },
];
const MAX_BODY = 64 * 1024;
// The body's fields, with the check each value must pass (the proto's types).
const isWhole = (v, min, max) => Number.isSafeInteger(v) && v >= min && v <= max;
const FIELDS = {
  transaction_id: [(v) => isWhole(v, -(2 ** 53), 2 ** 53), 'a whole number'],
  amount: [(v) => typeof v === 'number' && Number.isFinite(v), 'a number (US dollars)'],
  time: [(v) => isWhole(v, -(2 ** 53), 2 ** 53), 'a whole number (Unix time, seconds)'],
  age_of_account: [(v) => isWhole(v, -(2 ** 31), 2 ** 31 - 1), 'a whole number of days'],
  number_of_transactions: [(v) => isWhole(v, -(2 ** 31), 2 ** 31 - 1), 'a whole number'],
};

class HttpError extends Error {
  constructor(code, status, message, field = null) {
    super(message);
    Object.assign(this, { code, status, field });
  }
}

/** The token table: name, token and permissions of each caller. */
function loadTokens(file) {
  const table = file ? JSON.parse(fs.readFileSync(file, 'utf8')) : DEMO_TOKENS;
  if (!Array.isArray(table) || !table.every((t) => t.name && t.token && Array.isArray(t.permissions))) {
    throw new Error('the tokens file must be a JSON list of {"name", "token", "permissions": [...]}');
  }
  // Compare digests, in constant time: the time taken says nothing about a token.
  const digest = (text) => crypto.createHash('sha256').update(text).digest();
  const entries = table.map((t) => ({ ...t, digest: digest(t.token) }));
  return (token) => entries.find((t) => crypto.timingSafeEqual(t.digest, digest(token)));
}

/** The caller of `request`, who must hold `permission`: else 401 or 403. */
function authorize(request, findToken, permission) {
  const [scheme, token] = (request.headers.authorization || '').split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !token) {
    throw new HttpError(401, 'UNAUTHENTICATED', 'send the header "Authorization: Bearer <token>"');
  }
  const caller = findToken(token);
  if (!caller) throw new HttpError(401, 'UNAUTHENTICATED', 'the bearer token is not valid');
  if (!caller.permissions.includes(permission)) {
    throw new HttpError(403, 'PERMISSION_DENIED', `the token "${caller.name}" lacks the permission ${permission}`);
  }
  return caller;
}

/** The request's body, read in full (at most MAX_BODY bytes). */
async function readBody(request) {
  const tooLarge = () => new HttpError(413, 'RESOURCE_EXHAUSTED', 'the body is over 64 KiB');
  if (Number(request.headers['content-length']) > MAX_BODY) throw tooLarge(); // said before it is sent
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > MAX_BODY) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The PredictionRequest in `text`, every field checked: else 400 naming the field. */
function parseTransaction(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'the body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'the body must be a JSON object');
  }
  for (const key of Object.keys(body)) {
    if (!Object.hasOwn(FIELDS, key)) throw new HttpError(400, 'INVALID_ARGUMENT', `unknown field "${key}"`, key);
  }
  for (const [field, [valid, what]] of Object.entries(FIELDS)) {
    if (!Object.hasOwn(body, field)) throw new HttpError(400, 'INVALID_ARGUMENT', `"${field}" is missing`, field);
    if (!valid(body[field])) {
      throw new HttpError(400, 'INVALID_ARGUMENT', `"${field}" must be ${what}, not ${JSON.stringify(body[field])}`, field);
    }
  }
  return body;
}

/** A failed gRPC call, as the HTTP error a REST client should see. */
function fromGrpc(error) {
  const message = `the fraud service said ${codeName(error)}: ${error.details}`;
  switch (error.code) {
    case grpc.status.INVALID_ARGUMENT: { // out of range: its BadRequest names the field
      const bad = errorDetails(error).find((d) => d.type === 'google.rpc.BadRequest');
      return new HttpError(400, 'INVALID_ARGUMENT', message, bad?.value.field_violations[0]?.field ?? null);
    }
    case grpc.status.UNAVAILABLE:
      return new HttpError(503, 'UNAVAILABLE', message);
    case grpc.status.DEADLINE_EXCEEDED:
      return new HttpError(504, 'DEADLINE_EXCEEDED', message);
    default:
      return new HttpError(502, 'INTERNAL', message);
  }
}

function send(response, code, body) {
  response.writeHead(code, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function backend({ server, timeout, tokens }) {
  const findToken = loadTokens(tokens);
  const model = new fraud.FraudDetectionService(server, grpc.credentials.createInsecure());
  return http.createServer(async (request, response) => {
    const started = Date.now();
    let code = 200;
    try {
      const url = new URL(request.url, 'http://backend');
      if (url.pathname !== '/api/FraudActivity') throw new HttpError(404, 'NOT_FOUND', `no ${url.pathname} here`);
      if (request.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use POST');
      const caller = authorize(request, findToken, 'fraud:predict');
      const transaction = parseTransaction(await readBody(request));
      let reply;
      try {
        // The call carries the backend's timeout as its deadline.
        ({ reply } = await unary(model, 'PredictFraud', transaction, new grpc.Metadata(), {
          deadline: Date.now() + Number(timeout) * 1000,
        }));
      } catch (error) {
        throw fromGrpc(error);
      }
      send(response, 200, {
        transaction_id: Number(reply.transaction_id), // int64 arrives as a string
        predicted_label: reply.predicted_label,
        fraud_probability: reply.fraud_probability,
      });
      console.error(`${caller.name}: transaction ${transaction.transaction_id} scored`);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      code = error.code;
      if (code === 405) response.setHeader('allow', 'POST');
      send(response, code, { error: { code, status: error.status, message: error.message, field: error.field } });
    } finally {
      console.error(`${request.method} ${request.url} ${code} ${Date.now() - started} ms`);
    }
  });
}

const args = cli('Seed 000\'s backend: REST (JSON) in front of the fraud model\'s gRPC service.', {
  listen: {
    type: 'string', default: '127.0.0.1:8080', help: 'where this backend listens, host:port (port 0: any free one)',
  },
  tokens: {
    type: 'string', default: process.env.FRAUD_BACKEND_TOKENS, help: 'the token table, a JSON file (default: the demo table)',
  },
  timeout: { type: 'string', default: '5', help: 'seconds to wait for the fraud service' },
});
const at = args.listen.lastIndexOf(':');
const httpServer = backend(args);
httpServer.listen(Number(args.listen.slice(at + 1)), args.listen.slice(0, at), () => {
  const { address, port } = httpServer.address();
  console.log(`fraud backend listening on http://${address}:${port}/api/FraudActivity (fraud model at ${args.server})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => httpServer.close(() => process.exit(0)));
