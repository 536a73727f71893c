// Lesson: TLS and mutual TLS. TLS encrypts the connection and proves the server is who
// it says (its certificate, signed by a CA the client trusts); mutual TLS also makes
// the client prove who it is, with a certificate of its own.
//
//   cargo run --release -- --tls-cert examples/patterns/data/server.pem \
//       --tls-key examples/patterns/data/server.key --tls-client-ca examples/patterns/data/ca.pem
//   node examples/node/patterns/tls.js
//
// grpc-js's ways: grpc.credentials.createSsl(rootCerts, privateKey, certChain), Buffers
// of PEM. Without rootCerts grpc-js trusts Node's bundled root CAs (or the file that
// GRPC_DEFAULT_SSL_ROOTS_FILE_PATH names), not the lesson's CA. The demo certificates in
// examples/patterns/data (made by make_certs.sh there) are a CA, a server certificate for
// localhost and 127.0.0.1, and a client certificate. grpc-js speaks TLS with Node's own
// tls module (OpenSSL), so its errors are OpenSSL's.

'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { cli, echoClient, grpc, REPOSITORY, step, notice, unary, main } = require('./common');

const DATA = path.join(REPOSITORY, 'examples', 'patterns', 'data');

/** One echo call with `credentials`, as "OK" or why it failed. */
async function tryCall(server, credentials) {
  const client = echoClient(server, {}, credentials);
  try {
    const { reply } = await unary(client, 'UnaryEcho', { message: 'secret' }, undefined, {
      deadline: Date.now() + 10_000,
    });
    return `OK, "${reply.message}" came back`;
  } catch (error) {
    return `${grpc.status[error.code]}: ${error.details.replace(/\s+/g, ' ')}`; // OpenSSL's are multi-line
  } finally {
    client.close();
  }
}

async function run({ server, certs }) {
  const read = (name) => fs.readFileSync(path.join(certs, name));
  const [ca, clientCert, clientKey] = [read('ca.pem'), read('client.pem'), read('client.key')];

  step('plaintext, to a server that speaks TLS');
  console.log(`   ${await tryCall(server, grpc.credentials.createInsecure())}`);

  step('TLS, trusting only Node\'s bundled root CAs');
  console.log(`   ${await tryCall(server, grpc.credentials.createSsl())}`);
  notice('the server\'s certificate is signed by the lesson\'s CA, which no root store knows');

  step('TLS, trusting the lesson\'s CA, without a client certificate');
  console.log(`   ${await tryCall(server, grpc.credentials.createSsl(ca))}`);
  notice('the server (--tls-client-ca) asks every client for a certificate: none, no call');

  step('mutual TLS: the lesson\'s CA, and the client\'s certificate');
  console.log(`   ${await tryCall(server, grpc.credentials.createSsl(ca, clientKey, clientCert))}`);
  notice('both sides proved who they are; the call went through, encrypted');
}

main(run, cli('Lesson: TLS and mutual TLS.', {
  certs: { type: 'string', default: DATA, help: 'the folder of ca.pem, client.pem and client.key' },
}));
