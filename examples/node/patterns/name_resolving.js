// Lesson: name resolution. A channel's target is a name that a resolver turns into the
// addresses of the server's instances, and that set changes while a client runs:
// instances start and stop, and DNS or a service registry says so.
//
//   cargo run --release -- --listen 127.0.0.1:50051 --listen 127.0.0.1:50052
//   node examples/node/patterns/name_resolving.js
//
// grpc-js's ways: grpc-js resolves dns: (the default scheme), ipv4:, ipv6: and unix:
// targets itself, and takes resolvers of your own: grpc.experimental.registerResolver
// (scheme, class). Such a class is made for each channel whose target has that scheme,
// with a listener to call with the current addresses, as often as they change; the
// channel's load-balancing policy (round_robin here) connects to the new ones and drops
// the gone ones, in the same live channel. The lesson plays a service registry (a list
// of addresses in this process) and its resolver; in a real client the resolver would
// watch the registry (Consul, etcd, Kubernetes endpoints...). The API is marked
// experimental: it has changed between grpc-js versions (this is 1.14's).

'use strict';

const { cli, echoClient, grpc, header, step, notice, unary, main } = require('./common');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** A service registry: the instances of each service name, and who is watching. */
const registry = {
  instances: new Map(), // name -> ['127.0.0.1:50051', ...]
  watchers: new Set(),
  set(name, addresses) {
    this.instances.set(name, addresses);
    for (const watcher of this.watchers) watcher.changed(name);
  },
};

/** The resolver of `registry:NAME` targets: it tells its channel NAME's instances now,
 * and again at every change. */
class RegistryResolver {
  constructor(target, listener) {
    Object.assign(this, { name: target.path, listener, reported: null });
    registry.watchers.add(this);
  }

  changed(name) {
    if (name === this.name) this.updateResolution();
  }

  /** The channel asks for the addresses (at its start, and again whenever a connection
   * fails): answer when they are news, as grpc-js's own ipv4: resolver does; answering
   * every time would loop, the channel asking again at each answer. */
  updateResolution() {
    const addresses = registry.instances.get(this.name) || [];
    if (this.reported === addresses) return;
    this.reported = addresses;
    const endpoints = addresses.map((address) => {
      const at = address.lastIndexOf(':');
      return { addresses: [{ host: address.slice(0, at), port: Number(address.slice(at + 1)) }] };
    });
    // Asynchronously, as grpc-js's own resolvers do: (addresses, attributes, service
    // config: null keeps the channel's own 'grpc.service_config', a note for errors).
    process.nextTick(() => this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, ''));
  }

  destroy() {
    registry.watchers.delete(this);
    this.reported = null; // a channel that goes idle destroys it, and asks anew later
  }

  static getDefaultAuthority() {
    return 'localhost'; // the :authority of the calls
  }
}

/** Makes 20 calls on `client` and prints how many each instance answered. */
async function calls(client) {
  const counts = new Map();
  for (let i = 0; i < 20; i++) {
    const { headers } = await unary(client, 'UnaryEcho', { message: 'who?' }, undefined, { deadline: Date.now() + 10_000 });
    const name = header(headers, 'x-echo-instance');
    counts.set(name, (counts.get(name) || 0) + 1);
  }
  for (const [name, n] of [...counts].sort()) console.log(`   ${name}: ${n} calls`);
}

async function run({ first, second }) {
  grpc.experimental.registerResolver('registry', RegistryResolver);
  registry.set('echo', [first]);
  // One channel for the whole lesson: the resolver changes its addresses under it.
  const client = echoClient('registry:echo', { 'grpc.service_config': ROUND_ROBIN });

  step('the resolver finds the first instance');
  console.log(`   target registry:echo -> ${registry.instances.get('echo')}`);
  await calls(client);
  notice('the channel asked the resolver for the addresses of "echo" when it first connected');

  step('a second instance starts: the resolver adds it');
  registry.set('echo', [first, second]);
  await sleep(1000); // round_robin connects to the new address in the background
  console.log(`   target registry:echo -> ${registry.instances.get('echo')}`);
  await calls(client);
  notice('the same channel, no reconnect: the new address joined the turn');

  step('the first instance goes away: the resolver removes it');
  registry.set('echo', [second]);
  await sleep(1000);
  console.log(`   target registry:echo -> ${registry.instances.get('echo')}`);
  await calls(client);
  notice('every call went to the second instance; a dns: target does this by itself, looking');
  notice('the name up again when a connection fails (and every 30 s at most)');
  client.close();
}

main(run, cli('Lesson: name resolution, with a resolver of our own.', {
  first: { type: 'string', default: '127.0.0.1:50051', help: 'the first instance, host:port' },
  second: { type: 'string', default: '127.0.0.1:50052', help: 'the second instance, host:port' },
}, { server: false }));
