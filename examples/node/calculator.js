// A client of calculator.Calculator showing all four RPC styles and rich errors.
//
// Start the server (cargo run --release), then in another terminal:
//
//   node examples/node/calculator.js
//   node examples/node/calculator.js --factor 600851475143 --numbers 3,1,4,1,5,9,2,6
//
// grpc-js's ways: a unary call takes a callback (a promise here); a server stream is a
// readable stream, a client stream a writable one whose callback gets the one reply,
// and a bidirectional call is both (a Duplex).

'use strict';

const { grpc, load, codeName, errorDetails, unary, cli } = require('./shared');

const { calculator } = load('calculator.proto');

/** Prints a failed call as a program would inspect it: the code, the message, and the
 * google.rpc.BadRequest detail naming the field at fault. */
function printError(call, error) {
  console.log(`${call} -> ${codeName(error)}: ${error.details}`);
  // The details travel in the grpc-status-details-bin trailer (shared.js decodes it).
  for (const { type, value } of errorDetails(error)) {
    if (type !== 'google.rpc.BadRequest') continue;
    for (const violation of value.field_violations) {
      console.log(`    field "${violation.field}": ${violation.description}`);
    }
  }
}

async function run({ server, factor, numbers }) {
  const values = numbers.split(',').map(Number);
  const calc = new calculator.Calculator(server, grpc.credentials.createInsecure());

  console.log('== unary: one request, one reply');
  const root = (await unary(calc, 'SquareRoot', { value: 2 })).reply.value;
  console.log(`${'SquareRoot(2)'.padEnd(18)} = ${root}`);
  const [a, b] = [7.5, 2.5];
  for (const method of ['Add', 'Subtract', 'Multiply', 'Divide']) {
    const { reply } = await unary(calc, method, { a, b });
    console.log(`${`${method}(${a}, ${b})`.padEnd(18)} = ${reply.value}`);
  }

  console.log('\n== errors: INVALID_ARGUMENT with the field at fault in the details');
  await unary(calc, 'Divide', { a: 1, b: 0 }).catch((error) => printError('Divide(1, 0)', error));
  await unary(calc, 'SquareRoot', { value: -4 }).catch((error) => printError('SquareRoot(-4)', error));

  console.log(`\n== server streaming: the prime factors of ${factor}`);
  // uint64 travels as a string (longs: String): a JS number holds 53 bits at most.
  let product = 1n;
  for await (const reply of calc.PrimeFactors({ number: factor })) {
    product *= BigInt(reply.factor);
    console.log(`factor ${reply.factor.padStart(20)}   (product so far ${product})`);
  }

  console.log(`\n== client streaming: stream ${values.length} numbers, get one summary`);
  const summary = await new Promise((resolve, reject) => {
    // The callback gets the one reply, once our side of the stream has ended.
    const call = calc.Average((error, reply) => (error ? reject(error) : resolve(reply)));
    for (const value of values) call.write({ value });
    call.end();
  });
  console.log(`count ${summary.count}, mean ${summary.mean}, min ${summary.min}, max ${summary.max}`);

  console.log('\n== bidirectional streaming: after each number, the maximum so far');
  // Sending and receiving interleave: each maximum is read back before the next number
  // is sent. The call's async iterator hands over one reply per next().
  const call = calc.RunningMax();
  const maxima = call[Symbol.asyncIterator]();
  for (const value of values) {
    call.write({ value });
    const { value: max } = await maxima.next();
    console.log(`sent ${String(value).padStart(6)}   max so far ${String(max.value).padStart(6)}`);
  }
  // Ending our side ends the stream; the server then ends its side with OK.
  call.end();
  while (!(await maxima.next()).done);
  calc.close();
}

const args = cli('A client of calculator.Calculator showing all four RPC styles and rich errors.', {
  factor: { type: 'string', default: '600851475143', help: 'the number PrimeFactors factors' },
  numbers: { type: 'string', default: '3,1,4,1,5,9,2,6', help: 'comma-separated numbers for Average and RunningMax' },
});
run(args).catch((error) => {
  console.error(error.details ? `${codeName(error)}: ${error.details}` : error);
  process.exit(1);
});
