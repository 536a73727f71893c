// A client of model.ModelInference: discover the models, read a model's metadata,
// predict one row and a batch, and stream many predictions over one call.
//
// Start the server (cargo run --release), then in another terminal:
//
//   node examples/node/model_inference.js
//   node examples/node/model_inference.js --model digits

'use strict';

const { grpc, load, codeName, unary, cli } = require('./shared');

const { model: modelPackage } = load('model.proto');

/** Example rows for each shipped model, in its input's column order. */
function exampleRows(model, width) {
  if (model === 'iris') {
    // sepal length, sepal width, petal length, petal width (cm)
    return [[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.7, 3.0, 5.2, 2.3]];
  }
  if (model === 'diabetes') {
    // age, sex, bmi, bp, s1..s6 in their units (see GetModelMetadata)
    return [
      [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0],
      [48.0, 1.0, 21.6, 87.0, 183.0, 103.2, 70.0, 3.0, 3.8918, 69.0],
    ];
  }
  if (model === 'digits') {
    // a hand-drawn "1": a vertical bar in the middle columns of the 8x8 image
    return [Array.from({ length: 64 }, (_, i) => ([3, 4].includes(i % 8) ? 16 : 0))];
  }
  return [new Array(width).fill(0)]; // any other model: a row of zeros
}

const rounded = (values) => `[${values.map((v) => v.toFixed(4)).join(', ')}]`;
const list = (values) => `[${values.join(', ')}]`;

async function run({ server, model }) {
  const stub = new modelPackage.ModelInference(server, grpc.credentials.createInsecure());

  console.log('== ListModels (unary): what the server serves');
  for (const summary of (await unary(stub, 'ListModels', {})).reply.models) {
    const state = summary.ready ? 'ready' : `NOT READY: ${summary.reason}`;
    console.log(`${summary.id.padEnd(10)} v${summary.version}  ${state.padEnd(6)} ${summary.description}`);
  }

  console.log(`\n== GetModelMetadata (unary): the tensors of "${model}"`);
  const { reply: metadata } = await unary(stub, 'GetModelMetadata', { model_id: model });
  for (const tensor of [...metadata.inputs, ...metadata.outputs]) {
    // int64 shapes come as strings (longs: String); -1 is "any number of rows".
    console.log(`tensor "${tensor.name}": ${tensor.datatype} ${list(tensor.shape)}  ${tensor.description}`);
  }
  for (const feature of metadata.inputs[0].features.slice(0, 10)) {
    console.log(`  column ${feature.name.padEnd(16)} ${feature.unit.padEnd(12)} ${feature.description}`);
  }
  // A protobuf map reads as a plain object.
  const metrics = Object.entries(metadata.metrics).sort().map(([k, v]) => `${k}: ${v}`);
  console.log(`held-out metrics: {${metrics.join(', ')}}`);
  const width = Number(metadata.inputs[0].shape[1]);
  const labels = metadata.outputs[0].labels;

  console.log('\n== Predict (unary): one row');
  const rows = exampleRows(model, width);
  let { reply } = await unary(stub, 'Predict', { model_id: model, inputs: rows[0] });
  console.log(`inputs  ${list(rows[0])}`);
  console.log(`outputs ${list(reply.outputs)} (shape ${list(reply.output_shape)})`);
  if (labels.length) {
    const best = reply.outputs.indexOf(Math.max(...reply.outputs));
    console.log(`most likely: ${labels[best]} (${reply.outputs[best].toFixed(4)})`);
  }

  console.log(`\n== Predict (unary): a batch of ${rows.length} rows, flattened row by row`);
  ({ reply } = await unary(stub, 'Predict', { model_id: model, inputs: rows.flat() }));
  // The output is flattened too: split it by the output width.
  const outWidth = Number(reply.output_shape[1]);
  for (let i = 0; i < reply.outputs.length; i += outWidth) {
    console.log(`row ${i / outWidth}: ${rounded(reply.outputs.slice(i, i + outWidth))}`);
  }

  console.log('\n== PredictStream (bidirectional): many predictions over one call');
  // A bad request (one value too many) gets its error in its own response; the stream
  // goes on.
  const requests = rows.map((inputs) => ({ model_id: model, inputs }));
  requests.splice(1, 0, { model_id: model, inputs: new Array(width + 1).fill(1) });
  const call = stub.PredictStream();
  for (const request of requests) call.write(request);
  call.end();
  for await (const response of call) {
    // `result` is a oneof: with oneofs: true, `response.result` names the member set.
    if (response.result === 'response') {
      console.log(`#${response.index} ${rounded(response.response.outputs)}`);
    } else if (response.result === 'error') {
      console.log(`#${response.index} error ${response.error.code}: ${response.error.message}`);
    } else {
      console.log(`#${response.index} empty`);
    }
  }
  stub.close();
}

const args = cli('A client of model.ModelInference: discover, describe, predict, stream.', {
  model: { type: 'string', default: 'iris', help: 'the model to describe and run' },
});
run(args).catch((error) => {
  console.error(error.details ? `${codeName(error)}: ${error.details}` : error);
  process.exit(1);
});
