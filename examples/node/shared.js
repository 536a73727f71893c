// What every Node lesson shares: the .proto files of the repository's proto/, loaded
// at run time; the google.rpc error details; the command line; promises for unary calls.
//
// grpc-js has no generated code of its own: @grpc/proto-loader reads the .proto files
// when the lesson starts and grpc.loadPackageDefinition turns them into client
// constructors (`new helloworld.Greeter(address, credentials)`), with the options of
// grpc-node's own examples:
//   keepCase  field names as in the .proto (`transaction_id`, not `transactionId`)
//   longs     64-bit integers as strings ("600851475143"): a JS number loses digits
//   enums     enum values as their names ("ENCODING_PNG")
//   defaults  unset fields read as their default (0, "", []), as in the other languages
//   oneofs    a oneof gets a field naming the member that is set (`reply.result`)
// (proto-loader-gen-types can make TypeScript types from the same files, if wanted.)

'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const googleProtos = require('google-proto-files');
const health = require('grpc-health-check');

const REPOSITORY = path.resolve(__dirname, '..', '..');
const PROTO_DIR = path.join(REPOSITORY, 'proto');
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** The packages of `file` (a path under proto/, or an absolute one), as grpc objects. */
function load(file) {
  const definition = protoLoader.loadSync(file, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  return grpc.loadPackageDefinition(definition);
}

/** grpc.health.v1, from the .proto that grpc-node's grpc-health-check ships. */
function loadHealth() {
  return load(health.protoPath).grpc.health.v1;
}

// The rich error model: google.rpc.Status and the detail types of error_details.proto,
// from googleapis' own files (npm's google-proto-files), read with protobufjs, which
// proto-loader uses underneath, to decode bytes by hand.
let googleRpc = null;
function rpcTypes() {
  if (!googleRpc) {
    const files = ['status.proto', 'error_details.proto'].map((f) => googleProtos.getProtoPath('rpc', f));
    googleRpc = new protobuf.Root().loadSync(files, { keepCase: true });
  }
  return googleRpc;
}

/**
 * The details of a failed call: the server puts a google.rpc.Status, serialized, in
 * the `grpc-status-details-bin` trailer, which grpc-js hands over as `error.metadata`.
 * Returns each detail as `{ type: 'google.rpc.BadRequest', value: {...} }` (an empty
 * list when the server sent none).
 */
function errorDetails(error) {
  const bytes = error.metadata ? error.metadata.get('grpc-status-details-bin')[0] : undefined;
  if (!bytes) return [];
  const root = rpcTypes();
  const status = root.lookupType('google.rpc.Status').decode(bytes);
  return status.details.map((any) => {
    const type = any.type_url.slice(any.type_url.lastIndexOf('/') + 1); // type.googleapis.com/NAME
    const decoded = root.lookupType(type);
    // A plain object, defaults filled in: a Duration reads { seconds: 0, nanos: 1e8 }.
    const value = decoded.toObject(decoded.decode(any.value), { longs: Number, defaults: true });
    return { type, value };
  });
}

/** The name of a status code: grpc.status is an enum both ways (4 <-> DEADLINE_EXCEEDED). */
function codeName(error) {
  return grpc.status[error.code] || String(error.code);
}

/**
 * A unary call as a promise, the usual way to use grpc-js's callback API with
 * async/await. Resolves `{ reply, headers, trailers }`: grpc-js gives the response
 * headers in the call's 'metadata' event and the trailers in its 'status' event.
 * Rejects with the grpc-js error (`code`, `details`, `metadata` = the trailers).
 */
function unary(client, method, request, metadata = new grpc.Metadata(), options = {}) {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let trailers = new grpc.Metadata();
    let reply;
    let failure;
    let pending = 2; // the callback and the 'status' event, in either order
    const done = () => (failure ? reject(failure) : resolve({ reply, headers, trailers }));
    const call = client[method](request, metadata, options, (error, response) => {
      failure = error;
      reply = response;
      if (--pending === 0) done();
    });
    call.on('metadata', (received) => (headers = received));
    call.on('status', (status) => {
      trailers = status.metadata;
      if (--pending === 0) done();
    });
  });
}

/**
 * The command line, parsed with node:util's parseArgs: `--server HOST:PORT` (default
 * localhost:50051) and `--help`, plus `options` ({ name: { type, default, help } }).
 * `usage` is printed by --help.
 */
function cli(usage, options = {}, { server = true, positionals = false } = {}) {
  const all = { ...options, help: { type: 'boolean', short: 'h', help: 'print this help' } };
  if (server) all.server = { type: 'string', default: 'localhost:50051', help: 'the server, host:port' };
  const spec = Object.fromEntries(
    Object.entries(all).map(([name, { help, ...rest }]) => [name, rest]),
  );
  let parsed;
  try {
    parsed = parseArgs({ options: spec, allowPositionals: positionals });
  } catch (error) {
    console.error(`${error.message}\n(--help lists the options)`);
    process.exit(2);
  }
  if (parsed.values.help) {
    console.log(usage.trim() + '\n\noptions:');
    for (const [name, { help, default: value }] of Object.entries(all)) {
      console.log(`  --${name.padEnd(18)} ${help || ''}${value !== undefined ? ` (default ${value})` : ''}`);
    }
    process.exit(0);
  }
  return positionals ? parsed : parsed.values;
}

module.exports = { grpc, load, loadHealth, errorDetails, codeName, unary, cli, REPOSITORY, PROTO_DIR };
