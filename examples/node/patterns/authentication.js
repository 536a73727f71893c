// Lesson: authentication. A client proves who it is with a bearer token in every
// call's `authorization` metadata; the server answers UNAUTHENTICATED to a missing or
// unknown token, and PERMISSION_DENIED to a known token that may not call that method.
//
//   cargo run --release -- --auth-tokens examples/patterns/data/tokens.json   # the server
//   node examples/node/patterns/authentication.js                             # this lesson
//
// The tokens file gives lesson-admin every service and lesson-greeter only
// helloworld.Greeter/SayHello. (They are in the repository: demo tokens, not secrets.)
//
// grpc-js's ways: call credentials, grpc.credentials.createFromMetadataGenerator(),
// whose generator adds `authorization: Bearer <token>` to each call, given per call
// (`{ credentials }` in the call options) or for a whole channel, composed with TLS
// credentials (grpc.credentials.combineChannelCredentials). grpc-js refuses to compose
// them with plaintext credentials, yet sends per-call credentials on a plaintext
// channel: they travel readable by anyone on the path, so keep that to this machine.
// Plain metadata works too: `authorization: Bearer <token>` set on the call.

'use strict';

const { cli, echoClient, grpc, load, metadata, outcome, step, notice, unary, main } = require('./common');

const { helloworld } = load('helloworld.proto');

/** Call credentials that send `token` as a bearer token. */
function bearer(token) {
  return grpc.credentials.createFromMetadataGenerator((_context, callback) => {
    callback(null, metadata({ authorization: `Bearer ${token}` }));
  });
}

async function run({ server, 'admin-token': adminToken, 'greeter-token': greeterToken }) {
  const insecure = grpc.credentials.createInsecure();
  const greeter = new helloworld.Greeter(server, insecure);
  const echo = echoClient(server);
  const callers = [
    ['no token', null],
    ['a wrong token', 'not-a-token-the-server-knows'],
    ['the greeter-only token', greeterToken],
    ['the admin token', adminToken],
  ];
  for (const [who, token] of callers) {
    step(`calls with ${who}`);
    const options = { deadline: Date.now() + 10_000 };
    if (token !== null) options.credentials = bearer(token);
    console.log(`   Greeter/SayHello: ${await outcome(unary(greeter, 'SayHello', { name: 'Ada' }, undefined, options))}`);
    console.log(`   Echo/UnaryEcho:   ${await outcome(unary(echo, 'UnaryEcho', { message: 'hi' }, undefined, options))}`);
  }

  step('the admin token for a whole channel: call credentials composed with plaintext');
  try {
    grpc.credentials.combineChannelCredentials(insecure, bearer(adminToken));
    console.log('   composed');
  } catch (error) {
    console.log(`   refused: ${error.message}`);
  }
  notice('grpc-js composes call credentials only with TLS (tls.js makes TLS credentials)');

  step('the admin token as plain metadata, on a plaintext channel');
  const md = metadata({ authorization: `Bearer ${adminToken}` });
  console.log(`   Echo/UnaryEcho:   ${await outcome(unary(echo, 'UnaryEcho', { message: 'hi' }, md))}`);
  notice('no token or an unknown one: UNAUTHENTICATED (who are you?); a known token without');
  notice('the permission: PERMISSION_DENIED (you may not). Health and reflection need no token.');
  notice('over a network, send tokens only over TLS: anyone on the path can read plain metadata');
  greeter.close();
  echo.close();
}

main(run, cli('Lesson: authentication with bearer tokens.', {
  'admin-token': { type: 'string', default: 'lesson-admin-token-not-a-secret', help: 'may call everything' },
  'greeter-token': { type: 'string', default: 'lesson-greeter-token-not-a-secret', help: 'may call Greeter/SayHello only' },
}));
