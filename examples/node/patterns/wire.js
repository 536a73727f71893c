// A little HTTP/2 framing, for the lessons that look at the wire under grpc-js
// (compression, keepalive): grpc-js shows neither the bytes it sends nor its PING
// frames, and takes grpc-encoding out of the headers it hands over.
//
// An HTTP/2 frame is a 9-byte header (payload length: 3 bytes, type, flags, stream id:
// 4 bytes) and its payload. gRPC sends each message in DATA frames with a 5-byte prefix
// of its own: a flag (1 = compressed) and the message's length.

'use strict';

const net = require('node:net');

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'); // what a client sends first
const [DATA, SETTINGS, PING, GOAWAY] = [0x0, 0x4, 0x6, 0x7];
const [ACK, PADDED] = [0x1, 0x8];

/** One HTTP/2 frame. */
function frame(kind, flags, stream, payload = Buffer.alloc(0)) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = kind;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** Cuts a byte stream into frames: feed(bytes) calls onFrame(kind, flags, stream, payload). */
class FrameReader {
  constructor(onFrame, skipPreface = false) {
    Object.assign(this, { onFrame, skipPreface, buffer: Buffer.alloc(0) });
  }

  feed(data) {
    this.buffer = Buffer.concat([this.buffer, data]);
    if (this.skipPreface) {
      if (this.buffer.length < PREFACE.length) return;
      this.buffer = this.buffer.subarray(PREFACE.length);
      this.skipPreface = false;
    }
    while (this.buffer.length >= 9) {
      const length = this.buffer.readUIntBE(0, 3);
      if (this.buffer.length < 9 + length) return;
      const [kind, flags] = [this.buffer[3], this.buffer[4]];
      const stream = this.buffer.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buffer.subarray(9, 9 + length);
      this.buffer = this.buffer.subarray(9 + length);
      this.onFrame(kind, flags, stream, payload);
    }
  }
}

/** Reads the gRPC messages of one direction of one connection into `messages`
 * ({ compressed, length }: the length on the wire, after compression). */
class MessageReader {
  constructor(messages, clientSide) {
    this.messages = messages;
    this.streams = new Map(); // stream -> { prefix: Buffer, left: bytes of the message to skip }
    this.frames = new FrameReader((kind, flags, stream, payload) => {
      if (kind !== DATA) return;
      if (flags & PADDED) payload = payload.subarray(1, payload.length - payload[0]);
      this.data(stream, payload);
    }, clientSide);
  }

  feed(bytes) {
    this.frames.feed(bytes);
  }

  data(stream, payload) {
    if (!this.streams.has(stream)) this.streams.set(stream, { prefix: Buffer.alloc(0), left: 0 });
    const state = this.streams.get(stream);
    while (payload.length) {
      if (state.left) { // inside a message: skip its bytes
        const taken = Math.min(state.left, payload.length);
        state.left -= taken;
        payload = payload.subarray(taken);
        continue;
      }
      const needed = 5 - state.prefix.length; // the prefix, perhaps split over frames
      state.prefix = Buffer.concat([state.prefix, payload.subarray(0, needed)]);
      payload = payload.subarray(needed);
      if (state.prefix.length === 5) {
        const length = state.prefix.readUInt32BE(1);
        this.messages.push({ compressed: state.prefix[0] === 1, length });
        state.prefix = Buffer.alloc(0);
        state.left = length;
      }
    }
  }
}

/** A TCP relay on 127.0.0.1 between a client and `server` (host:port) that reads the
 * gRPC messages going each way. Point a client at `relay.target` instead. */
class Relay {
  static async start(server) {
    const relay = new Relay(server);
    await new Promise((resolve) => relay.listener.listen(0, '127.0.0.1', resolve));
    relay.target = `127.0.0.1:${relay.listener.address().port}`;
    return relay;
  }

  constructor(server) {
    const at = server.lastIndexOf(':');
    this.upstream = { host: server.slice(0, at), port: Number(server.slice(at + 1)) };
    // Every gRPC message each way, of every connection: { compressed, length }.
    this.requests = { messages: [] };
    this.replies = { messages: [] };
    this.sockets = new Set();
    this.listener = net.createServer((client) => {
      const upstream = net.connect(this.upstream);
      const ways = [
        [client, upstream, new MessageReader(this.requests.messages, true)],
        [upstream, client, new MessageReader(this.replies.messages, false)],
      ];
      for (const [from, to, reader] of ways) {
        this.sockets.add(from);
        // Read before it is passed on: seen by the time it arrives.
        from.on('data', (data) => {
          reader.feed(data);
          to.write(data);
        });
        from.on('close', () => to.destroy());
        from.on('error', () => to.destroy());
      }
    });
  }

  close() {
    this.listener.close();
    for (const socket of this.sockets) socket.destroy();
  }
}

module.exports = { PREFACE, DATA, SETTINGS, PING, GOAWAY, ACK, frame, FrameReader, Relay };
