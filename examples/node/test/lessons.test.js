// The lessons of the services (examples/node/*.js): each runs against a real server as
// a learner runs it, and its output (or what it wrote) must show what it teaches.

'use strict';

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, test } = require('node:test');
const { FIXTURES, assertAll, line, runLesson, startServer } = require('./harness');

const ROCKET = path.join(FIXTURES, 'rocket.mp4');
let shared; // one server for the lessons that leave no state another lesson reads
before(async () => (shared = await startServer(null)));
after(() => shared.stop());

test('greeter shows every RPC style', async () => {
  const out = await runLesson('greeter.js', ['--server', shared.address]);
  assertAll(out, [
    'SayHello      -> Hello, World!',
    'SayHelloAgain -> Hello again, World!',
    'Konnichiwa, World!',
    'INVALID_ARGUMENT: name must not be empty',
  ]);
  // The bidirectional replies came in the order the names went out.
  assert.ok(out.indexOf('Hello, Ada!') < out.indexOf('Hello, Grace!'), out);
  assert.ok(out.indexOf('Hello, Grace!') < out.indexOf('Hello, Barbara!'), out);
  // 10 replies 200 ms apart cannot all come within a deadline of 500 ms.
  const replies = Number(line(out, 'replies, then DEADLINE_EXCEEDED').trim().split(' ')[0]);
  assert.ok(replies < 10, out);
});

test('greeter compresses when asked', async () => {
  const out = await runLesson('greeter.js', ['--server', shared.address, '--compression', 'gzip']);
  assertAll(out, ["(requests carry grpc-encoding 'gzip'", 'Hello, Barbara!']);
});

test('calculator shows every RPC style and the field at fault', async () => {
  const out = await runLesson('calculator.js', ['--server', shared.address]);
  assertAll(out, [
    'SquareRoot(2)      = 1.4142135623730951',
    'Divide(7.5, 2.5)   = 3',
    'field "b": division by zero',
    'field "value":',
    'factor                 6857   (product so far 600851475143)',
    'count 8, mean 3.875, min 1, max 9',
    'sent      6   max so far      9',
  ]);
  // One maximum per number sent, interleaved.
  assert.equal(out.split('max so far').length - 1, 8, out);
});

test('model_inference lists, describes, predicts and streams', async () => {
  const out = await runLesson('model_inference.js', ['--server', shared.address]);
  assertAll(out, [
    'iris       v1  ready',
    'fraud      v1  ready',
    'tensor "input": FP32 [-1, 4]',
    'column petal_length     cm',
    'most likely: setosa',
    'row 2: [0.0001, 0.0962, 0.9036]',
    '#1 error 3: inputs has 5 values',
    '#3 [0.0001, 0.0962, 0.9036]',
  ]);
});

test('fraud_detection scores transactions', async () => {
  const out = await runLesson('fraud_detection.js', ['--server', shared.address]);
  assertAll(out, ['coffee on a long-standing account', 'negative amount -> INVALID_ARGUMENT']);
  assert.ok(line(out, 'coffee').endsWith('  ok'), out);
  assert.ok(line(out, 'a burst of purchases').endsWith('  FRAUD'), out);
});

test('feedback sends, watches and lists', async (t) => {
  const server = await startServer(t); // a fresh database: the ids start at 1
  const out = await runLesson('feedback.js', ['send', '--count', '40', '--server', server.address]);
  assertAll(out, [
    '#0 stored as feedback 1 [positive',
    '#2 stored as feedback 3 [negative',
    'Thank you for the kind words, alice!',
    '#39 stored as feedback 40',
  ]);
  const watchArgs = ['watch', '--replay-after', '0', '--limit', '6', '--server', server.address];
  const watched = await runLesson('feedback.js', watchArgs);
  assert.equal(watched.trim().split('\n').length, 6, watched);
  assert.ok(watched.includes('The delivery was fast'), watched);
  const listed = await runLesson('feedback.js', ['list', '--page-size', '4', '--server', server.address]);
  assert.equal(listed.split('-- page').length - 1, 10, listed);
  assert.ok(listed.includes('Support never answered'), listed);
});

/** Every frame of a video or picture as raw bytes (`format`: rgb24 or gray), by ffmpeg. */
function decode(file, format = 'rgb24') {
  const [width, height] = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'stream=width,height', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim().split(',').map(Number);
  const data = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', format, 'pipe:1'],
    { maxBuffer: 1 << 30 });
  const size = width * height * (format === 'gray' ? 1 : 3);
  const frames = [];
  for (let at = 0; at < data.length; at += size) frames.push(data.subarray(at, at + size));
  return { width, height, frames };
}

/** When each frame of a video is shown, in µs. */
function timestamps(file) {
  return execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'frame=best_effort_timestamp_time', '-of', 'csv=p=0', file], { encoding: 'utf8' })
    .trim().split('\n').map((s) => Math.round(Number(s) * 1e6));
}

/** Mean absolute difference of two pixel buffers, in gray levels (every 7th byte). */
function meanDifference(a, b, invertB = false) {
  assert.equal(a.length, b.length);
  let [sum, n] = [0, 0];
  for (let i = 0; i < a.length; i += 7, n++) sum += Math.abs(a[i] - (invertB ? 255 - b[i] : b[i]));
  return sum / n;
}

test('video turns an mp4 into a processed mp4', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-video-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const output = path.join(dir, 'inverted.mp4');
  const out = await runLesson('video.js', [ROCKET, '--filter', 'invert', '-o', output, '--server', shared.address]);
  assertAll(out, ['75 frames in', '(320 x 240, 75 frames, 3.00 s)']);
  const [before, afterwards] = [decode(ROCKET), decode(output)];
  assert.equal(before.frames.length, 75);
  assert.equal(afterwards.frames.length, 75);
  assert.deepEqual([afterwards.width, afterwards.height], [320, 240]);
  assert.deepEqual(timestamps(output), timestamps(ROCKET)); // the same frame times
  for (const [k, frame] of afterwards.frames.entries()) {
    // The inverse of the input, to within two rounds of lossy coding ...
    assert.ok(meanDifference(frame, before.frames[k], true) < 6, `frame ${k}`);
    // ... and far from the input itself: the filter ran.
    assert.ok(meanDifference(frame, before.frames[k]) > 60, `frame ${k}`);
  }
  const [codec, duration] = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'stream=codec_name,duration', '-of', 'csv=p=0', output], { encoding: 'utf8' }).trim().split(',');
  assert.equal(codec, 'h264');
  assert.equal(Number(duration), 3);
});

test('video processes a folder of images', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-video-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [framesIn, framesOut] = [path.join(dir, 'in'), path.join(dir, 'out')];
  fs.mkdirSync(framesIn);
  for (const k of [0, 1, 2]) fs.copyFileSync(path.join(FIXTURES, 'rocket.jpg'), path.join(framesIn, `00${k}.jpg`));
  const out = await runLesson('video.js', [framesIn, '--filter', 'edges', '-o', framesOut, '--server', shared.address]);
  assert.ok(out.includes('3 frames in'), out);
  assert.deepEqual(fs.readdirSync(framesOut).sort(), ['frame-00000.png', 'frame-00001.png', 'frame-00002.png']);
  const jpeg = decode(path.join(FIXTURES, 'rocket.jpg'), 'gray');
  for (const name of fs.readdirSync(framesOut)) {
    const { width, height, frames: [gray] } = decode(path.join(framesOut, name), 'gray');
    assert.deepEqual([width, height], [jpeg.width, jpeg.height]);
    // Canny edges: white lines on black, a small part of the picture.
    const white = gray.filter((v) => v > 128).length / gray.length;
    assert.ok(white > 0.005 && white < 0.4, `${name}: ${(white * 100).toFixed(1)}% white`);
    assert.ok(gray.every((v) => v === 0 || v === 255), `${name} is not black and white`);
  }
});

test('video lists filters', async () => {
  const out = await runLesson('video.js', ['--list-filters', '--server', shared.address]);
  assert.match(out, /^edges: Canny edges/m);
  assert.ok(out.includes('frames up to'), out);
});
