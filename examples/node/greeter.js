// A client of helloworld.Greeter showing each of its RPC styles.
//
// Start the server (cargo run --release), then in another terminal:
//
//   node examples/node/greeter.js
//   node examples/node/greeter.js --name Ada --server localhost:50051
//   node examples/node/greeter.js --compression gzip   # compress what we send
//
// grpc-js's ways: a unary call takes a callback (wrapped in a promise here, see
// shared.js); a streaming call is a Node stream: read it with `for await`, write it
// with `call.write()` and end our side with `call.end()`.

'use strict';

const { grpc, load, codeName, unary, cli } = require('./shared');

const { helloworld } = load('helloworld.proto');
// grpc-js's compression algorithms, by the number its channel option takes.
const COMPRESSION = { none: 0, deflate: 1, gzip: 2 };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function run({ server, name, compression }) {
  if (!(compression in COMPRESSION)) throw new Error(`--compression: one of ${Object.keys(COMPRESSION)}`);
  // One client holds one channel (an HTTP/2 connection) for every call below. The
  // channel option compresses every request sent on it; grpc-js always tells the
  // server it accepts gzip and deflate replies (grpc-accept-encoding).
  const options = { 'grpc.default_compression_algorithm': COMPRESSION[compression] };
  const greeter = new helloworld.Greeter(server, grpc.credentials.createInsecure(), options);

  console.log('== unary: one request, one reply');
  let { reply } = await unary(greeter, 'SayHello', { name });
  console.log(`SayHello      -> ${reply.message}`);
  if (compression !== 'none') {
    // grpc-js decompresses replies itself and takes grpc-encoding out of the headers it
    // hands over: patterns/compression.js looks at the wire to see it.
    console.log(`                 (requests carry grpc-encoding '${compression}'; grpc-js hides the reply's)`);
  }
  ({ reply } = await unary(greeter, 'SayHelloAgain', { name }));
  console.log(`SayHelloAgain -> ${reply.message}`);

  console.log('\n== server streaming: one request, replies arrive one by one');
  let started = Date.now();
  // The call is a readable stream; `for await` ends when the server ends it with OK,
  // and throws the error of any other status.
  for await (const each of greeter.SayHelloStreamReply({ name })) {
    console.log(`${String(Date.now() - started).padStart(5)} ms  ${each.message}`);
  }

  console.log('\n== bidirectional streaming: names go out as replies come back');
  started = Date.now();
  const call = greeter.SayHelloBidiStream();
  // Writing runs on its own while this function reads: one name every 100 ms.
  const writing = (async () => {
    for (const [i, who] of ['Ada', 'Grace', 'Barbara'].entries()) {
      if (i) await sleep(100);
      call.write({ name: who });
    }
    call.end(); // the end of our side of the stream
  })();
  for await (const each of call) {
    console.log(`${String(Date.now() - started).padStart(5)} ms  ${each.message}`);
  }
  await writing;

  console.log('\n== a deadline: the server ends the stream when it passes');
  // `deadline` (a Date or milliseconds since the epoch) is sent as the grpc-timeout
  // header; the server ends the call with DEADLINE_EXCEEDED when it passes.
  let received = 0;
  try {
    for await (const _ of greeter.SayHelloStreamReply({ name }, { deadline: Date.now() + 500 })) {
      received += 1;
    }
    console.log(`the stream finished before its deadline (${received} replies)`);
  } catch (error) {
    if (error.code !== grpc.status.DEADLINE_EXCEEDED) throw error;
    console.log(`${received} replies, then ${codeName(error)}: ${error.details}`);
  }

  console.log('\n== an error: the status code and its message');
  try {
    await unary(greeter, 'SayHello', { name: '' });
  } catch (error) {
    console.log(`${codeName(error)}: ${error.details}`);
  }
  greeter.close();
}

const args = cli('A client of helloworld.Greeter showing each of its RPC styles.', {
  name: { type: 'string', default: 'World', help: 'who to greet' },
  compression: { type: 'string', default: 'none', help: 'compress requests: none, gzip or deflate' },
});
run(args).catch((error) => {
  console.error(error.details ? `${codeName(error)}: ${error.details}` : error);
  process.exit(1);
});
