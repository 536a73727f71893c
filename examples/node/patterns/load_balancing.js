// Lesson: client-side load balancing. A client that knows several server instances
// spreads its calls over them itself: by hand, with a channel per instance, or with one
// channel over all of them and a load-balancing policy.
//
//   cargo run --release -- --listen 127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053
//   node examples/node/patterns/load_balancing.js
//
// grpc-js's ways: a target that names several addresses (ipv4:127.0.0.1:50051,...,
// or a dns: name with several records), and the policy in the service config
// ("loadBalancingConfig": [{ "round_robin": {} }]). The default policy, pick_first,
// sends everything to the first address that answers. (grpc-js sends the first address
// of an ipv4: list as the calls' :authority, which this server takes.) One server
// listening on three ports stands for three instances: the echo service names the
// instance that answered (x-echo-instance, host:port) in every reply.

'use strict';

const { cli, echoClient, header, step, notice, unary, main } = require('./common');

const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** The instance that answers one echo call on `client`. */
async function instance(client) {
  const { headers } = await unary(client, 'UnaryEcho', { message: 'who?' }, undefined, { deadline: Date.now() + 10_000 });
  return header(headers, 'x-echo-instance');
}

/** Makes `calls` calls, the n-th on `pick(n)`, and prints how many each instance answered. */
async function count(calls, pick) {
  const counts = new Map();
  for (let n = 0; n < calls; n++) {
    const name = await instance(pick(n));
    counts.set(name, (counts.get(name) || 0) + 1);
  }
  for (const [name, n] of [...counts].sort()) console.log(`   ${name}: ${n} calls`);
}

const ready = (client) => new Promise((resolve, reject) => {
  client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve()));
});

async function run({ servers, calls }) {
  const addresses = servers.split(',');
  calls = Number(calls);

  step('one channel to the first instance');
  const first = echoClient(addresses[0]);
  await count(calls, () => first);
  first.close();
  notice('a channel to one address: every call lands on the same instance');

  step('round robin by hand: a channel per instance, taken in turn');
  const clients = addresses.map((address) => echoClient(address));
  await count(calls, (n) => clients[n % clients.length]);
  clients.forEach((c) => c.close());
  notice('exactly even, whatever each instance\'s load');

  const target = `ipv4:${addresses.join(',')}`; // one target, every address (numeric IPv4)
  step(`one channel to ${target}, default policy (pick_first)`);
  const pickFirst = echoClient(target);
  await count(calls, () => pickFirst);
  pickFirst.close();
  notice('pick_first: one connection, to the first address that answers; the others are spares');

  step(`one channel to ${target}, round_robin in the service config`);
  const balanced = echoClient(target, { 'grpc.service_config': ROUND_ROBIN });
  // Wait until it has connected: round_robin uses the connections that are ready.
  await ready(balanced);
  await count(calls, () => balanced);
  balanced.close();
  notice('round_robin: a connection to every address, and each call to the next one;');
  notice('an instance that goes down drops out of the turn, and comes back when it answers');
}

main(run, cli('Lesson: client-side load balancing.', {
  servers: {
    type: 'string', default: '127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053', help: 'the instances, comma-separated IPv4 host:port',
  },
  calls: { type: 'string', default: '30', help: 'calls to make each way' },
}, { server: false }));
