// Lesson: error details. A failed call ends with a status code and a message, and may
// carry details: typed google.rpc messages that a program can act on (when to retry,
// which field was wrong, which quota ran out), in the grpc-status-details-bin trailer.
//
//   cargo run --release                            # the server
//   node examples/node/patterns/error_details.js   # this lesson
//
// grpc-js's ways: the error a call fails with has `code`, `details` (the message) and
// `metadata` (the trailers). grpc-js does not decode the details itself: shared.js's
// errorDetails() reads the trailer as a google.rpc.Status with protobufjs, from
// googleapis' own status.proto and error_details.proto (npm's google-proto-files), and
// decodes each of its Any details by the type its type_url names. The echo service ends
// a call with the status x-echo-status names, with the details x-echo-detail lists.

'use strict';

const { cli, codeName, echoClient, errorDetails, metadata, step, notice, unary, main } = require('./common');

/** The error of one echo call with `headers` (they all fail). */
async function failure(client, headers) {
  try {
    await unary(client, 'UnaryEcho', { message: 'x' }, metadata(headers), { deadline: Date.now() + 10_000 });
  } catch (error) {
    return error;
  }
  throw new Error('the call succeeded: this server does not read x-echo-* headers');
}

const milliseconds = ({ seconds, nanos }) => seconds * 1000 + nanos / 1e6;

/** What a program would read in each kind of detail. */
function describe({ type, value }) {
  switch (type) {
    case 'google.rpc.RetryInfo':
      return [`RetryInfo: retry after ${milliseconds(value.retry_delay)}ms`];
    case 'google.rpc.QuotaFailure':
      return value.violations.map((v) => `QuotaFailure: ${v.subject} (${v.description})`);
    case 'google.rpc.ErrorInfo':
      return [`ErrorInfo: reason ${value.reason} in domain ${value.domain}, ${JSON.stringify(value.metadata)}`];
    case 'google.rpc.BadRequest':
      return value.field_violations.map((v) => `BadRequest: field ${v.field} (${v.description})`);
    case 'google.rpc.DebugInfo':
      return [`DebugInfo: ${value.detail} ${JSON.stringify(value.stack_entries)}`];
    default:
      return [type];
  }
}

async function run({ server }) {
  const client = echoClient(server);

  step('status codes: the code says what kind of failure it was');
  for (const code of ['NOT_FOUND', 'PERMISSION_DENIED', 'UNAVAILABLE', 'INTERNAL']) {
    const error = await failure(client, { 'x-echo-status': code });
    console.log(`   asked ${code.padEnd(18)} got ${codeName(error)}: ${error.details}`);
  }
  notice('a client decides from the code: retry UNAVAILABLE, fix the request on INVALID_ARGUMENT ...');

  step('rich error details: typed messages beside the code');
  const error = await failure(client, {
    'x-echo-status': 'RESOURCE_EXHAUSTED',
    'x-echo-message': 'out of echoes',
    'x-echo-detail': 'retry-info,quota-failure,error-info,bad-request,debug-info',
  });
  console.log(`   ${codeName(error)}: ${error.details}`);
  for (const detail of errorDetails(error)) {
    for (const text of describe(detail)) console.log(`   ${text}`);
  }
  notice('the details travel in the grpc-status-details-bin trailer as a google.rpc.Status');

  step('bad input: a header out of range names itself');
  const bad = await failure(client, { 'x-echo-delay-ms': '99999' });
  console.log(`   ${codeName(bad)}: ${bad.details}`);
  for (const { type, value } of errorDetails(bad)) {
    if (type === 'google.rpc.BadRequest') console.log(`   BadRequest: field ${value.field_violations[0].field}`);
  }
  notice('a header out of range is INVALID_ARGUMENT, and the BadRequest names the header');
  client.close();
}

main(run, cli('Lesson: error details, the google.rpc rich error model.'));
