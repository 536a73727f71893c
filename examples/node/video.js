// A client of video.VideoProcessing: streams the frames of a real video through a
// filter on the server and writes the processed video:
//
//   node examples/node/video.js tests/fixtures/rocket.mp4 --filter edges -o edges.mp4
//   node examples/node/video.js clip.mp4 --filter gaussian_blur --param sigma=4 -o blur.mp4
//   node examples/node/video.js photos/ --filter motion -o motion/   # a folder of images
//   node examples/node/video.js --list-filters
//
// What it shows:
// - the "config first, then data" bidirectional stream: one StreamConfig message, then
//   one message per frame, and one reply per frame, in order;
// - sending and receiving at the same time, with back-pressure end to end: call.write()
//   returns false once grpc-js holds enough unsent messages (HTTP/2 flow control keeps
//   them there while the server is busy), and the lesson then waits for 'drain' before
//   it reads more from the decoder, so a slow server slows the decoder down instead of
//   filling memory; the same holds between the replies and the encoder;
// - message size limits set on purpose: a raw 1080p RGB frame is 6.2 MB, over
//   grpc-js's 4 MiB default for received messages;
// - letting the server do the work: the config asks for the encoding the output needs
//   (raw RGB for the .mp4 encoder, PNG for a folder), so this client never decodes a
//   processed picture.
//
// Video in and out goes through the ffmpeg program (Debian's ffmpeg package), over
// pipes of raw RGB frames: npm has no well-kept pure-JS H.264 codec. Any video ffmpeg
// reads goes in; an .mp4 (H.264) comes out, at the input's frame rate. A folder of
// .jpg/.jpeg/.png images needs no ffmpeg: they are sent as they are, in name order, and
// any output path not ending in .mp4 is a folder of PNG frames. Start the server first.

'use strict';

const { spawn, execFileSync } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const { grpc, load, codeName, unary, cli } = require('./shared');

const { video } = load('video.proto');
const IMAGE_ENCODINGS = { '.jpg': 'ENCODING_JPEG', '.jpeg': 'ENCODING_JPEG', '.png': 'ENCODING_PNG' };

/** The frames to send, as Frame messages, each with how long it is shown (µs). */
class Source {
  constructor(input, fps) {
    this.input = input;
    if (fs.statSync(input).isDirectory()) {
      this.images = fs.readdirSync(input).filter((f) => path.extname(f).toLowerCase() in IMAGE_ENCODINGS).sort();
      if (!this.images.length) throw new Error(`no .jpg, .jpeg or .png file in ${input}`);
      this.frameUs = Math.round(1_000_000 / fps);
      this.count = this.images.length;
      return;
    }
    // ffprobe reads the stream's size and rate, and each packet's time (no decoding).
    const probe = JSON.parse(execFileSync('ffprobe', [
      '-v', 'error', '-select_streams', 'v:0', '-of', 'json',
      '-show_entries', 'stream=width,height,avg_frame_rate,time_base:packet=pts,duration', input,
    ]));
    const stream = probe.streams[0];
    if (!stream) throw new Error(`no video stream in ${input}`);
    Object.assign(this, { width: stream.width, height: stream.height, rate: stream.avg_frame_rate });
    const [num, den] = stream.time_base.split('/').map(Number);
    const us = (ticks) => Math.round((Number(ticks) * num * 1_000_000) / den);
    const [rateNum, rateDen] = this.rate.split('/').map(Number);
    this.frameUs = Math.round((1_000_000 * rateDen) / rateNum) || 40_000;
    // Packets come in decoding order: sorted by time, they are the frames as shown.
    this.times = (probe.packets || []).filter((p) => p.pts !== undefined)
      .map((p) => [us(p.pts), p.duration ? us(p.duration) : this.frameUs]).sort((a, b) => a[0] - b[0]);
    this.count = this.times.length;
  }

  async *frames() {
    if (this.images) {
      for (const [k, image] of this.images.entries()) {
        // The server reads the size from the file's header.
        const frame = {
          presentation_timestamp_us: k * this.frameUs,
          encoding: IMAGE_ENCODINGS[path.extname(image).toLowerCase()],
          data: fs.readFileSync(path.join(this.input, image)),
        };
        yield [frame, this.frameUs];
      }
      return;
    }
    // ffmpeg decodes to raw RGB (3 bytes a pixel) on its standard output, every frame
    // once (passthrough: none dropped or doubled), in presentation order.
    const decoder = spawn('ffmpeg', ['-v', 'error', '-i', this.input, '-map', '0:v:0', '-fps_mode', 'passthrough',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let errors = ''; // shown if it fails; not when we stop it early (it then says "Broken pipe")
    decoder.stderr.setEncoding('utf8').on('data', (text) => (errors += text));
    const exited = once(decoder, 'exit');
    const size = this.width * this.height * 3;
    let pending = Buffer.alloc(0);
    let k = 0;
    try {
      // Reading the pipe only as frames are taken: ffmpeg waits while we do.
      for await (const chunk of decoder.stdout) {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= size) {
          const [timestamp, duration] = this.times[k] || [k * this.frameUs, this.frameUs];
          const data = pending.subarray(0, size);
          pending = pending.subarray(size);
          k += 1;
          const frame = { presentation_timestamp_us: timestamp, width: this.width, height: this.height };
          yield [{ ...frame, encoding: 'ENCODING_RGB8', data: Buffer.from(data) }, duration];
        }
      }
      const [code] = await exited;
      if (code !== 0) throw new Error(`ffmpeg could not decode ${this.input}:\n${errors}`);
    } finally {
      decoder.kill();
    }
  }
}

/** Where the processed frames go: an .mp4 (H.264, by ffmpeg) or a folder of PNG files. */
class Sink {
  constructor(output, rate) {
    Object.assign(this, { output, rate, written: 0, encoder: null });
    this.video = path.extname(output).toLowerCase() === '.mp4';
    if (!this.video) fs.mkdirSync(output, { recursive: true });
  }

  /** What to ask the server for: what this sink writes as it comes. */
  encoding() {
    return this.video ? 'ENCODING_RGB8' : 'ENCODING_PNG';
  }

  async write(frame) {
    if (frame.encoding !== this.encoding()) throw new Error(`a reply in ${frame.encoding}, not as asked`);
    this.written += 1;
    if (!this.video) {
      fs.writeFileSync(path.join(this.output, `frame-${String(this.written - 1).padStart(5, '0')}.png`), frame.data);
      return;
    }
    if (frame.data.length !== frame.width * frame.height * 3) throw new Error('an RGB8 reply of the wrong length');
    if (!this.encoder) { // the first frame gives the size
      this.encoder = spawn('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24',
        '-s', `${frame.width}x${frame.height}`, '-framerate', this.rate, '-i', 'pipe:0',
        '-c:v', 'libx264', '-pix_fmt', 'yuv420p', this.output], { stdio: ['pipe', 'ignore', 'inherit'] });
      this.exited = once(this.encoder, 'exit');
    }
    // A full pipe: wait for the encoder (and so read no reply meanwhile).
    if (!this.encoder.stdin.write(frame.data)) await once(this.encoder.stdin, 'drain');
  }

  async finish() {
    if (!this.encoder) return;
    this.encoder.stdin.end();
    const [code] = await this.exited;
    if (code !== 0) throw new Error(`ffmpeg could not write ${this.output} (exit ${code})`);
  }
}

async function listFilters(stub) {
  const { reply } = await unary(stub, 'ListFilters', {});
  for (const info of reply.filters) {
    console.log(`${info.name}: ${info.description}`);
    for (const p of info.params) console.log(`    ${p.name} = ${p.default} (${p.min} to ${p.max}): ${p.description}`);
  }
  console.log(`frames up to ${reply.max_frame_pixels} pixels and ${reply.max_frame_bytes} bytes`);
}

async function run({ values, positionals }) {
  const limit = Number(values['max-message-size']);
  const stub = new video.VideoProcessing(values.server, grpc.credentials.createInsecure(), {
    // grpc-js takes at most 4 MiB by default; frames are larger.
    'grpc.max_receive_message_length': limit,
    'grpc.max_send_message_length': limit,
    'grpc.default_compression_algorithm': values.compression === 'gzip' ? 2 : 0,
  });
  if (values['list-filters']) return listFilters(stub);
  const input = positionals[0];
  if (!input) throw new Error('give an input video or folder (or --list-filters)');
  const source = new Source(input, Number(values.fps));
  const output = values.output || `${path.parse(input).name}-${values.filter}.mp4`;
  const sink = new Sink(output, source.rate || String(values.fps));
  const params = Object.fromEntries(values.param.map((p) => {
    const [name, value] = p.split('=');
    if (value === undefined) throw new Error(`--param ${p} is not name=value`);
    return [name, Number(value)];
  }));

  const started = Date.now();
  const call = stub.ProcessFrames();
  // The config first (one member of the request's oneof), then one message per frame.
  call.write({ config: { filter: values.filter, params, output_encoding: sink.encoding() } });
  const timing = new Map(); // each frame's duration, by sequence number, for its reply
  let [sentBytes, receivedBytes, frames, shownUs, size] = [0, 0, 0, 0, [0, 0]];
  const sending = (async () => {
    let sequence = 0;
    for await (const [frame, durationUs] of source.frames()) {
      timing.set(String(sequence), durationUs);
      sentBytes += frame.data.length;
      // false: grpc-js holds enough unsent messages; wait before decoding more.
      if (!call.write({ frame: { ...frame, sequence_number: sequence++ } })) await once(call, 'drain');
    }
    call.end();
  })();
  sending.catch(() => call.cancel()); // a decoding error ends the call too
  try {
    for await (const reply of call) {
      receivedBytes += reply.frame.data.length;
      await sink.write(reply.frame);
      size = [reply.frame.width, reply.frame.height];
      shownUs += timing.get(reply.frame.sequence_number);
      timing.delete(reply.frame.sequence_number);
      frames += 1;
      if (process.stderr.isTTY) process.stderr.write(`\r${frames}/${source.count || '?'} frames`);
    }
    await sending;
  } catch (error) {
    await sink.finish().catch(() => {});
    if (error.code === undefined) throw error;
    throw new Error(`the server ended the stream after ${frames} frames: ${codeName(error)}: ${error.details}`);
  }
  await sink.finish();
  if (process.stderr.isTTY) process.stderr.write('\n');
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `${frames} frames in ${seconds.toFixed(2)} s (${(frames / seconds).toFixed(1)} frames/s); ` +
      `sent ${(sentBytes / 1e6).toFixed(2)} MB, received ${(receivedBytes / 1e6).toFixed(2)} MB of frame data` +
      (values.compression === 'gzip' ? ' (before compression)' : ''),
  );
  console.log(`wrote ${output} (${size[0]} x ${size[1]}, ${frames} frames, ${(shownUs / 1e6).toFixed(2)} s)`);
  stub.close();
}

const args = cli('Streams a video\'s frames through a filter on the server: video.js INPUT [options]', {
  output: { type: 'string', short: 'o', help: 'an .mp4, or a folder for PNG frames' },
  filter: { type: 'string', default: 'edges', help: 'the filter (see --list-filters)' },
  param: { type: 'string', multiple: true, default: [], help: 'name=value, repeatable' },
  fps: { type: 'string', default: '25', help: 'frames/s of a folder of images' },
  compression: { type: 'string', default: 'none', help: 'none or gzip' },
  'list-filters': { type: 'boolean', help: 'print the filters' },
  'max-message-size': { type: 'string', default: String(64 * 1024 * 1024), help: 'bytes, both ways' },
}, { positionals: true });
run(args).then(() => process.exit(0), (error) => {
  console.error(error.message);
  process.exit(1);
});
