// Lesson: Unix domain sockets. A server can listen on a file path instead of a TCP
// port: only processes on the same machine, with the file's permissions, can connect,
// and no port is open to the network. Sidecars and local agents talk gRPC this way.
//
//   cargo run --release -- --listen 127.0.0.1:50051 --listen unix:/tmp/grpc-showcase.sock
//   node examples/node/patterns/unix_socket.js
//   grpcurl -plaintext -unix -authority localhost /tmp/grpc-showcase.sock list
//
// grpc-js's ways: the target unix:PATH (unix:relative/path, unix:/absolute/path or
// unix:///absolute/path). grpc-js sends "localhost" as the calls' :authority for such a
// target, which this server takes as it is (no option needed, unlike grpcio).

'use strict';

const { cli, echoClient, header, step, notice, unary, main } = require('./common');

async function run({ socket }) {
  step(`connect to unix:${socket}`);
  const client = echoClient(`unix:${socket}`);
  try {
    await new Promise((resolve, reject) => {
      client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve()));
    });
  } catch {
    throw new Error(`cannot connect to ${socket} (start the server with --listen unix:PATH)`);
  }

  step('a call over the socket');
  const { reply, headers } = await unary(client, 'UnaryEcho', { message: 'over a socket file' }, undefined, {
    deadline: Date.now() + 10_000,
  });
  console.log(`   instance ${header(headers, 'x-echo-instance')}, peer ${header(headers, 'x-echo-peer')}`);
  console.log(`   (this process is pid ${process.pid})`);
  console.log(`   "${reply.message}" came back`);
  notice('the server saw a Unix socket peer, with the client\'s process id: no address, no port');
  client.close();
}

main(run, cli('Lesson: gRPC over a Unix domain socket.', {
  socket: { type: 'string', default: '/tmp/grpc-showcase.sock', help: 'the server\'s socket' },
}, { server: false }));
