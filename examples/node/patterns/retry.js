// Lesson: retries. UNAVAILABLE means "try again": a client retries it after a pause
// that grows each time (exponential backoff), or after the pause the server asks for,
// and gives up after a few attempts.
//
//   cargo run --release                     # the server
//   node examples/node/patterns/retry.js    # this lesson
//
// grpc-js's ways: a retry policy in the channel's service config (the
// 'grpc.service_config' channel option, JSON): which methods, which status codes, how
// many attempts, and the backoff. grpc-js retries inside the channel, out of the
// application's sight (an interceptor sees one call), so the lesson asks the server how
// many attempts it saw (its /metrics). grpc-js's policy waits for the
// grpc-retry-pushback-ms trailer, not for a google.rpc.RetryInfo detail: the last step
// honours RetryInfo with a loop of its own. The echo service fails the first
// x-echo-fail-first calls that carry one x-echo-retry-key with UNAVAILABLE and a
// RetryInfo.

'use strict';

const crypto = require('node:crypto');
const { cli, codeName, echoClient, errorDetails, grpc, handled, metadata, step, notice, unary, main } = require('./common');

/** A retry policy for every method of the echo service. */
function serviceConfig(attempts) {
  return JSON.stringify({
    methodConfig: [{
      name: [{ service: 'grpc.examples.echo.Echo' }],
      retryPolicy: {
        maxAttempts: attempts, // the first call and its retries; at most 5
        initialBackoff: '0.05s', // then 0.1 s, 0.2 s ..., each with jitter
        maxBackoff: '2s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    }],
  });
}

/** Runs `count()`; returns what it resolved to, and how many UnaryEcho calls the
 * server failed with UNAVAILABLE and answered OK meanwhile. */
async function attemptsSeen(server, count) {
  const before = [await handled(server, 'UnaryEcho', 'Unavailable'), await handled(server, 'UnaryEcho', 'OK')];
  const result = await count();
  const after = [await handled(server, 'UnaryEcho', 'Unavailable'), await handled(server, 'UnaryEcho', 'OK')];
  return [result, after[0] - before[0], after[1] - before[1]];
}

/** The pause a google.rpc.RetryInfo detail asks for, in ms, if there is one. */
function retryDelay(error) {
  const info = errorDetails(error).find((d) => d.type === 'google.rpc.RetryInfo');
  return info ? info.value.retry_delay.seconds * 1000 + info.value.retry_delay.nanos / 1e6 : null;
}

async function call(client, headers) {
  try {
    const { reply } = await unary(client, 'UnaryEcho', { message: 'hello' }, metadata(headers), {
      deadline: Date.now() + 20_000,
    });
    return `succeeded with "${reply.message}"`;
  } catch (error) {
    return `gave up: ${codeName(error)}: ${error.details}`;
  }
}

async function run({ server }) {
  // A key of this run's own: the server counts the attempts per key.
  const key = `retry-lesson-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;

  step('a call that fails twice, then succeeds; the policy allows 5 attempts');
  let client = echoClient(server, { 'grpc.service_config': serviceConfig(5) });
  const flaky = { 'x-echo-fail-first': '2', 'x-echo-retry-key': `${key}-a` };
  let [result, failed, answered] = await attemptsSeen(server, () => call(client, flaky));
  client.close();
  console.log(`   ${result}: one call for this program`);
  console.log(`   the server saw ${failed + answered} attempts: ${failed} UNAVAILABLE, then ${answered} OK`);
  notice('grpc-js retried by itself, after its exponential backoff');

  step('a call that always fails with UNAVAILABLE; the policy allows 3 attempts');
  client = echoClient(server, { 'grpc.service_config': serviceConfig(3) });
  [result, failed, answered] = await attemptsSeen(server, () => call(client, { 'x-echo-status': 'UNAVAILABLE' }));
  client.close();
  console.log(`   ${result}`);
  console.log(`   the server saw ${failed + answered} attempts: ${failed} UNAVAILABLE, ${answered} OK`);
  notice('the policy gave up after its attempts: retrying forever would make an overloaded');
  notice('server worse');

  step('the server\'s RetryInfo, honoured by hand (grpc-js\'s policy does not read it)');
  // No policy on this channel (and no retries at all): the loop decides.
  client = echoClient(server, { 'grpc.enable_retries': 0 });
  const headers = { 'x-echo-fail-first': '2', 'x-echo-retry-key': `${key}-b`, 'x-echo-retry-delay-ms': '100' };
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      const { reply } = await unary(client, 'UnaryEcho', { message: 'hello' }, metadata(headers), {
        deadline: Date.now() + 20_000,
      });
      console.log(`   attempt ${attempt}: OK, "${reply.message}"`);
      break;
    } catch (error) {
      const delay = retryDelay(error);
      if (error.code !== grpc.status.UNAVAILABLE || delay === null || attempt === 5) {
        console.log(`   attempt ${attempt}: ${codeName(error)}; giving up`);
        break;
      }
      console.log(`   attempt ${attempt}: UNAVAILABLE; the server's RetryInfo says retry in ${delay}ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  client.close();
  notice('a server that knows when it will be ready says so; a client should listen');
}

main(run, cli('Lesson: retries, by the service config\'s policy and by hand.'));
