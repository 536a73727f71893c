"""A little HTTP/2 framing, for the lessons that look at the wire under grpcio
(compression, keepalive): grpcio shows neither the bytes it sends nor its PING frames.

An HTTP/2 frame is a 9-byte header (payload length: 3 bytes, type, flags, stream id: 4
bytes) and its payload. gRPC sends each message in DATA frames with a 5-byte prefix of
its own: a flag (1 = compressed) and the message's length.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # what a client sends first
DATA, HEADERS, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x4, 0x6, 0x7
ACK, PADDED = 0x1, 0x8


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame."""
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def read_frame(sock: socket.socket) -> tuple[int, int, int, bytes] | None:
    """The next frame from `sock` (kind, flags, stream, payload); None once it closed."""
    head = _read_exactly(sock, 9)
    if head is None:
        return None
    payload = _read_exactly(sock, int.from_bytes(head[:3], "big"))
    if payload is None:
        return None
    return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFF_FFFF, payload


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


@dataclass
class Message:
    """A gRPC message seen on the wire."""

    compressed: bool
    length: int  # bytes on the wire, after compression


@dataclass
class Direction:
    """What went one way through the relay: every gRPC message of every stream."""

    client_side: bool  # the client's direction starts with the HTTP/2 preface
    messages: list[Message] = field(default_factory=list)
    _buffer: bytes = b""
    _streams: dict[int, list] = field(default_factory=dict)  # stream: [prefix, bytes left]

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if self.client_side and self._buffer.startswith(PREFACE):
            self._buffer = self._buffer[len(PREFACE) :]
            self.client_side = False
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < 9 + length:
                return
            kind, flags = self._buffer[3], self._buffer[4]
            stream = int.from_bytes(self._buffer[5:9], "big") & 0x7FFF_FFFF
            payload = self._buffer[9 : 9 + length]
            self._buffer = self._buffer[9 + length :]
            if kind == DATA:
                if flags & PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                self._data(stream, payload)

    def _data(self, stream: int, payload: bytes) -> None:
        state = self._streams.setdefault(stream, [b"", 0])
        while payload:
            if state[1]:  # inside a message: skip its bytes
                taken = min(state[1], len(payload))
                state[1] -= taken
                payload = payload[taken:]
                continue
            needed = 5 - len(state[0])  # the 5-byte prefix, perhaps split over frames
            state[0] += payload[:needed]
            payload = payload[needed:]
            if len(state[0]) == 5:
                length = int.from_bytes(state[0][1:], "big")
                self.messages.append(Message(compressed=state[0][0] == 1, length=length))
                state[0], state[1] = b"", length


class Relay:
    """A TCP relay on 127.0.0.1 between a client and `server` that reads the gRPC
    messages going each way. Point a channel at `relay.target` instead of the server."""

    def __init__(self, server: str) -> None:
        host, _, port = server.rpartition(":")
        self.server = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.target = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = Direction(client_side=True)
        self.replies = Direction(client_side=False)
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.server)
            self.sockets += [client, upstream]
            threading.Thread(
                target=self._pump, args=(client, upstream, self.requests), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, self.replies), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, seen: Direction) -> None:
        try:
            while data := source.recv(65536):
                with self.lock:  # read before it is passed on: seen by the time it arrives
                    seen.feed(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            sock.close()
