// What every pattern lesson shares: the echo service's client, the --server flag,
// the server's metrics, and how a lesson prints its steps.
//
// The echo service is grpc-go's feature-examples echo (proto/echo.proto); a client
// chooses the server's behaviour with x-echo-* request metadata: a status to end with
// (x-echo-status), error details (x-echo-detail), a delay (x-echo-delay-ms), a
// stream's length (x-echo-count), failures to retry (x-echo-fail-first)...

'use strict';

const http = require('node:http');
const shared = require('../shared');

const { grpc } = shared;
const { echo } = shared.load('echo.proto').grpc.examples;

/** A client of grpc.examples.echo.Echo (plaintext unless `credentials` say otherwise). */
function echoClient(target, options = {}, credentials = grpc.credentials.createInsecure()) {
  return new echo.Echo(target, credentials, options);
}

/** grpc.Metadata from an object of key: value (a Buffer value for a -bin key). */
function metadata(entries = {}) {
  const result = new grpc.Metadata();
  for (const [key, value] of Object.entries(entries)) result.set(key, value);
  return result;
}

/** Prints a step's title. */
function step(title) {
  console.log(`\n== ${title}`);
}

/** Prints what to notice. */
function notice(text) {
  console.log(`   notice: ${text}`);
}

/** The first value of `name` in grpc.Metadata `md`, as text (or `fallback`). */
function header(md, name, fallback = '?') {
  const [value] = md ? md.get(name) : [];
  return value === undefined ? fallback : String(value);
}

/** A one-line outcome of a promise of a call: "OK" or "CODE: message". */
async function outcome(promise) {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    return `${shared.codeName(error)}: ${error.details}`;
  }
}

/**
 * The sum of the server's metric `name` for `method` (and `labels`), from its
 * Prometheus text at GET /metrics, which the server answers on its gRPC port.
 */
function metric(server, name, method, labels = {}) {
  const at = server.lastIndexOf(':');
  const options = { host: server.slice(0, at), port: Number(server.slice(at + 1)), path: '/metrics', timeout: 10_000 };
  return new Promise((resolve, reject) => {
    http.get(options, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        const wanted = [`grpc_method="${method}"`, ...Object.entries(labels).map(([k, v]) => `${k}="${v}"`)];
        let total = 0;
        for (const line of text.split('\n')) {
          if (line.startsWith(`${name}{`) && wanted.every((label) => line.includes(label))) {
            total += Math.trunc(Number(line.slice(line.lastIndexOf(' ') + 1)));
          }
        }
        resolve(total);
      });
    }).on('error', reject);
  });
}

/**
 * How many `method` calls the server has ended with `code`: its counter
 * grpc_server_handled_total counts every call once it ends, by method and status
 * code (OK, Canceled, Unavailable...).
 */
function handled(server, method, code) {
  return metric(server, 'grpc_server_handled_total', method, { grpc_code: code });
}

/** Runs a lesson's `run(args)` and exits with its outcome, as every lesson does. */
function main(run, args) {
  run(args).then(
    () => process.exit(0), // grpc-js keeps idle channels open: exit once the lesson is done
    (error) => {
      console.error(error.details ? `${shared.codeName(error)}: ${error.details}` : error);
      process.exit(1);
    },
  );
}

module.exports = { ...shared, echo, echoClient, metadata, step, notice, header, outcome, metric, handled, main };
