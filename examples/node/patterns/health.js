// Lesson: health checking. Every server hosts grpc.health.v1.Health: Check asks
// whether a service (or, with "", the whole server) is SERVING now; Watch streams each
// change. Load balancers and orchestrators use it to send calls only where they can be
// answered; a client can too, and fail over to another instance.
//
//   cargo run --release -- --listen 127.0.0.1:50051                   # the primary
//   cargo run --release -- --listen 127.0.0.1:50052 --data-dir data2  # a backup
//   node examples/node/patterns/health.js --backup localhost:50052
//   # ... then Ctrl-C the primary
//
// grpc-js's ways: grpc-node's grpc-health-check package ships health.proto (its
// `protoPath`), loaded like any other .proto (shared.js). grpc-js has no client-side
// health checking of its own ("healthCheckConfig" in the service config): a client
// that wants it watches, as here. A server goes NOT_SERVING when it starts shutting
// down (SIGINT, SIGTERM), so the watcher hears of it before the port closes.

'use strict';

const { cli, codeName, echoClient, grpc, header, loadHealth, step, notice, unary, main } = require('./common');

const { Health } = loadHealth();

/** The instance that answers an echo call on `client` (its x-echo-instance). */
async function instance(client) {
  const { headers } = await unary(client, 'UnaryEcho', { message: 'who?' }, undefined, { deadline: Date.now() + 10_000 });
  return header(headers, 'x-echo-instance');
}

async function run({ server, backup, wait }) {
  const health = new Health(server, grpc.credentials.createInsecure());

  step('check: the whole server, a service, and a service nobody hosts');
  for (const service of ['', 'grpc.examples.echo.Echo', 'no.such.Service']) {
    try {
      const { reply } = await unary(health, 'Check', { service }, undefined, { deadline: Date.now() + 10_000 });
      console.log(`   "${service}": ${reply.status}`); // enums: String gives the name
    } catch (error) {
      console.log(`   "${service}": ${codeName(error)}: ${error.details}`);
    }
  }
  notice('an unknown service is NOT_FOUND for Check (Watch would answer SERVICE_UNKNOWN and wait)');

  step('calls go to the primary while it is SERVING');
  const primary = echoClient(server);
  console.log(`   answered by ${await instance(primary)}`);
  // The watch ends by itself after `wait` seconds (its deadline). Its first reply is
  // the status now; then one comes at each change.
  const watch = health.Watch({ service: '' }, { deadline: Date.now() + Number(wait) * 1000 });
  let change;
  try {
    let first = true;
    for await (const reply of watch) {
      if (first) console.log(`   watching the primary: ${reply.status} (stop it now to see the failover)`);
      first = false;
      if (reply.status !== 'SERVING') {
        change = reply.status;
        break; // leaving the loop cancels the watch
      }
    }
    change ??= 'gone (the watch ended)';
  } catch (error) {
    if (error.code === grpc.status.DEADLINE_EXCEEDED) {
      console.log(`   the primary stayed SERVING for ${wait} s`);
      return;
    }
    change = `unreachable (${codeName(error)})`;
  }

  step('the primary is going away: fail over');
  console.log(`   the primary is ${change}: failing over to ${backup}`);
  const spare = new Health(backup, grpc.credentials.createInsecure());
  const { reply } = await unary(spare, 'Check', { service: '' }, undefined, { deadline: Date.now() + 10_000 });
  console.log(`   the backup is ${reply.status}`);
  console.log(`   answered by ${await instance(echoClient(backup))}`);
  notice('the watch said NOT_SERVING as the primary began to drain, before its calls failed');
}

main(run, cli('Lesson: health checking, and failing over to a backup.', {
  backup: { type: 'string', default: 'localhost:50052', help: 'the backup server' },
  wait: { type: 'string', default: '300', help: 'seconds to wait for the primary to go NOT_SERVING' },
}));
