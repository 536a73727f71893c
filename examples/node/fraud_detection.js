// A client of fraud_detection.FraudDetectionService: score a few card transactions
// and print the fraud probability and the label the server decided.
//
// Start the server (cargo run --release), then in another terminal:
//
//   node examples/node/fraud_detection.js
//
// (fraud_backend.js puts a REST endpoint in front of this same call.)

'use strict';

const { grpc, load, codeName, unary, cli } = require('./shared');

const { fraud_detection: fraud } = load('fraud_detection.proto');

// [what it is, amount in USD, Unix time, account age in days, transactions in 24 h]
const TRANSACTIONS = [
  ['coffee on a long-standing account', 4.5, 1_750_000_000, 2400, 1],
  ['groceries, late afternoon', 82.1, 1_750_006_800, 900, 2],
  ['electronics at 3 a.m. on a new account', 1899.0, 1_749_956_400, 3, 1],
  ['a burst of purchases on a week-old account', 640.0, 1_749_960_000, 7, 11],
];

async function run({ server }) {
  const stub = new fraud.FraudDetectionService(server, grpc.credentials.createInsecure());
  console.log(`${'transaction'.padEnd(44)} ${'amount'.padStart(9)} ${'p(fraud)'.padStart(11)}  label`);
  for (const [i, [what, amount, time, age, count]] of TRANSACTIONS.entries()) {
    // int64 fields take a number (or a string, for values past 2^53).
    const { reply } = await unary(stub, 'PredictFraud', {
      transaction_id: i + 1,
      amount,
      time,
      age_of_account: age,
      number_of_transactions: count,
    });
    const label = reply.predicted_label ? 'FRAUD' : 'ok';
    console.log(
      `${what.padEnd(44)} ${amount.toFixed(2).padStart(9)} ${reply.fraud_probability.toFixed(4).padStart(11)}  ${label}`,
    );
  }

  // An invalid transaction: INVALID_ARGUMENT, with a message that says why.
  try {
    await unary(stub, 'PredictFraud', { transaction_id: 99, amount: -20 });
    console.log('\nnegative amount -> accepted?!');
  } catch (error) {
    console.log(`\nnegative amount -> ${codeName(error)}: ${error.details}`);
  }
  stub.close();
}

run(cli('A client of fraud_detection.FraudDetectionService: scores transactions.')).catch((error) => {
  console.error(error.details ? `${codeName(error)}: ${error.details}` : error);
  process.exit(1);
});
