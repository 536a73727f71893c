// A client of feedback.FeedbackService, in three modes:
//
//   node examples/node/feedback.js send --consumer alice   # type lines, see replies
//   node examples/node/feedback.js send --count 20         # send 20 scripted ones
//   node examples/node/feedback.js watch                   # print feedback live
//   node examples/node/feedback.js list                    # read it back, by pages
//
// Start the server first (cargo run --release).

'use strict';

const readline = require('node:readline');
const { grpc, load, codeName, unary, cli } = require('./shared');

const { feedback } = load('feedback.proto');

// Scripted feedback, cycling through the three sentiments.
const SCRIPT = [
  'The delivery was fast and the courier was lovely!',
  'My order arrived on Tuesday.',
  'The box was crushed and two items were broken. Very disappointing.',
  'Great prices, I will order again :)',
  'I changed my address in the app.',
  'Support never answered my emails, terrible.',
];

const signed = (score) => `${score >= 0 ? '+' : ''}${score.toFixed(3)}`;

/** Bidirectional streaming: send feedback and print each reply as it comes. */
async function send(stub, consumer, count) {
  const call = stub.SendFeedback();
  if (count === undefined) {
    // One request per line typed; Ctrl-D ends our side. Node reads the terminal and
    // the replies on the same event loop: neither waits for the other.
    console.error('type feedback, one per line; Ctrl-D to finish');
    const lines = readline.createInterface({ input: process.stdin });
    lines.on('line', (text) => call.write({ consumer_id: consumer, feedback: text }));
    lines.on('close', () => call.end());
  } else {
    for (let i = 0; i < count; i++) call.write({ consumer_id: consumer, feedback: SCRIPT[i % SCRIPT.length] });
    call.end();
  }
  // Each reply arrives once its feedback is on disk, in the order sent.
  for await (const reply of call) {
    if (reply.error) {
      console.log(`#${reply.index} refused (${reply.error.code}): ${reply.error.message}`);
    } else {
      console.log(
        `#${reply.index} stored as feedback ${reply.feedback_id} ` +
          `[${reply.sentiment} ${signed(reply.sentiment_score)}] ${reply.response_message}`,
      );
    }
  }
}

/** Server streaming: print feedback as it is stored (after the replay, if asked). */
async function watch(stub, consumer, sentiment, replayAfter, limit) {
  const request = { consumer_id: consumer, sentiment };
  // An `optional` field: set, or not sent at all.
  if (replayAfter !== undefined) request.replay_after_id = replayAfter;
  const call = stub.WatchFeedback(request);
  let shown = 0;
  try {
    for await (const event of call) {
      if (event.event === 'feedback') {
        const f = event.feedback;
        console.log(
          `${f.id.padStart(6)} ${f.consumer_id.padEnd(12)} ${f.sentiment.padEnd(8)} ` +
            `${signed(f.sentiment_score)}  ${f.feedback}`,
        );
        shown += 1;
        if (limit !== undefined && shown >= limit) {
          // We want no more: cancelling tells the server to stop the stream (and
          // leaving the loop stops reading what was already on its way).
          call.cancel();
          break;
        }
      } else if (event.event === 'lagged') {
        const { missed, resume_after_id: resume } = event.lagged;
        console.log(`fell behind by ${missed} feedbacks; resume with --replay-after ${resume}`);
      }
    }
  } catch (error) {
    if (error.code !== grpc.status.CANCELLED) throw error; // ours: the end we asked for
  }
}

/** Unary, paginated: each reply carries the token of the next page ("" at the end). */
async function listPages(stub, pageSize) {
  let [pageToken, pageNumber] = ['', 1];
  for (;;) {
    const { reply: page } = await unary(stub, 'ListFeedback', { page_size: pageSize, page_token: pageToken });
    console.log(`-- page ${pageNumber}`);
    for (const f of page.feedback) {
      console.log(`${f.id.padStart(6)} ${f.consumer_id.padEnd(12)} ${f.sentiment.padEnd(8)} ${f.feedback}`);
    }
    if (!page.next_page_token) break;
    [pageToken, pageNumber] = [page.next_page_token, pageNumber + 1];
  }
}

async function run({ values, positionals }) {
  const mode = positionals[0];
  const number = (name) => (values[name] === undefined ? undefined : Number(values[name]));
  const stub = new feedback.FeedbackService(values.server, grpc.credentials.createInsecure());
  try {
    if (mode === 'send') await send(stub, values.consumer ?? 'alice', number('count'));
    else if (mode === 'watch') {
      await watch(stub, values.consumer ?? '', values.sentiment, values['replay-after'], number('limit'));
    } else if (mode === 'list') await listPages(stub, number('page-size'));
    else throw new Error('give a mode: send, watch or list (--help)');
  } finally {
    stub.close();
  }
}

const args = cli(
  'Sends, watches or lists feedback: feedback.js send|watch|list [options]',
  {
    consumer: { type: 'string', help: 'send: who sends it (default alice); watch: only this consumer\'s' },
    count: { type: 'string', help: 'send: this many scripted feedbacks, not typed ones' },
    sentiment: { type: 'string', default: '', help: 'watch: positive, neutral or negative only' },
    'replay-after': { type: 'string', help: 'watch: first replay what is after this id' },
    limit: { type: 'string', help: 'watch: stop after this many feedbacks' },
    'page-size': { type: 'string', default: '20', help: 'list: feedbacks per page' },
  },
  { positionals: true },
);
run(args).catch((error) => {
  console.error(error.details ? `${codeName(error)}: ${error.details}` : error.message);
  process.exit(1);
});
