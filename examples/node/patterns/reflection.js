// Lesson: server reflection. A server can describe itself: which services it hosts,
// and every method's request and response types, as the descriptors compiled from its
// .proto files (with their comments). grpcurl, Postman and evans work this way, with no
// .proto file and no generated code for the services they call.
//
//   cargo run --release                                    # the server
//   node examples/node/patterns/reflection.js              # this lesson
//   node examples/node/patterns/reflection.js --describe helloworld.Greeter
//
// grpc-js's ways: grpc-js has no reflection client of its own; npm's
// grpc-js-reflection-client asks the server's reflection service (v1, or v1alpha with
// --reflection-version) for the file descriptors a symbol needs, with its
// dependencies, and rebuilds them with protobufjs: getPackageObject() then gives
// client constructors, as @grpc/proto-loader does from .proto files. protobufjs keeps
// no source comments, so the lesson asks for the service's file once more itself, on
// the raw reflection stream (a bidirectional call like any other), and reads the
// comments from the descriptor's source_code_info.

'use strict';

const path = require('node:path');
const { once } = require('node:events');
const { GrpcReflection } = require('grpc-js-reflection-client');
const { FileDescriptorProto } = require('protobufjs/ext/descriptor');
const { cli, grpc, load, step, notice, unary, main } = require('./common');

const STYLES = ['unary', 'server streaming', 'client streaming', 'bidirectional streaming'];
const style = (m) => STYLES[(m.requestStream ? 2 : 0) + (m.responseStream ? 1 : 0)];

/** The name of the file that defines `service`, and the comments of its methods by
 * name, from the raw file descriptor. */
async function rawFile(server, version, service) {
  // The reflection .proto files that grpc-js-reflection-client ships.
  const dir = path.join(path.dirname(require.resolve('grpc-js-reflection-client/package.json')), 'proto');
  const reflection = load(path.join(dir, `${version}.proto`)).grpc.reflection[version];
  const client = new reflection.ServerReflection(server, grpc.credentials.createInsecure());
  const call = client.ServerReflectionInfo();
  call.write({ file_containing_symbol: service }); // one question, one answer
  const [answer] = await once(call, 'data');
  call.end();
  client.close();
  const comments = new Map();
  let name = '?';
  for (const bytes of answer.file_descriptor_response.file_descriptor_proto) {
    const file = FileDescriptorProto.decode(bytes);
    const s = file.service.findIndex((x) => `${file.package}.${x.name}` === service);
    if (s < 0) continue;
    name = file.name;
    // source_code_info keeps comments by path: file.service (6) [s] .method (2) [m].
    for (const location of file.sourceCodeInfo?.location || []) {
      const [a, b, c, m] = location.path;
      if (location.path.length === 4 && a === 6 && b === s && c === 2 && location.leadingComments) {
        comments.set(file.service[s].method[m].name, location.leadingComments.trim());
      }
    }
  }
  return { name, comments };
}

async function run({ server, describe, 'reflection-version': version }) {
  const reflection = new GrpcReflection(server, grpc.credentials.createInsecure(), {}, version);

  step(`the services the server hosts (reflection ${version})`);
  for (const service of await reflection.listServices()) console.log(`   ${service}`);

  step(`the file that defines ${describe}`);
  let descriptor;
  try {
    descriptor = await reflection.getDescriptorBySymbol(describe);
  } catch {
    throw new Error(`the server does not know ${describe}`);
  }
  const service = descriptor.getProtobufJsRoot().lookupService(describe);
  const { name, comments } = await rawFile(server, version, describe);
  console.log(`   ${describe} (from ${name})`);
  for (const method of service.methodsArray) {
    console.log(`   rpc ${method.name}(${method.requestType}) returns (${method.responseType}): ${style(method)}`);
    if (comments.has(method.name)) console.log(`       // ${comments.get(method.name).split('\n')[0]}`);
  }
  notice('the types, the streaming styles and the comments all came from the running server');

  step('a call made from those descriptors alone');
  const echoDescriptor = await reflection.getDescriptorBySymbol('grpc.examples.echo.Echo');
  // The same options as shared.js gives proto-loader: the same objects as from a .proto.
  const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
  const { Echo } = echoDescriptor.getPackageObject(options).grpc.examples.echo;
  const client = new Echo(server, grpc.credentials.createInsecure());
  const { reply } = await unary(client, 'UnaryEcho', { message: 'found by reflection' }, undefined, {
    deadline: Date.now() + 10_000,
  });
  console.log(`   grpc.examples.echo.Echo.UnaryEcho: "${reply.message}" came back`);
  notice('as grpcurl does: descriptors from the server, messages built at run time');
  client.close();
}

main(run, cli('Lesson: server reflection, and a call with no .proto file.', {
  describe: { type: 'string', default: 'grpc.examples.echo.Echo', help: 'the service to describe' },
  'reflection-version': { type: 'string', default: 'v1', help: 'v1 or v1alpha' },
}));
