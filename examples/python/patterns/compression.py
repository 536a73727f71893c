"""Lesson: compression. gRPC compresses messages one by one (gzip, deflate, zstd...),
chosen per channel or per call: fewer bytes on the wire for more CPU on both ends. The
sender says which encoding it used (the ``grpc-encoding`` header) and which ones it
takes back (``grpc-accept-encoding``); this server answers in the encoding the request
came in, so a compressed request gets a compressed reply and a plain one a plain reply.

    cargo run --release                                        # the server
    .venv/bin/python examples/python/patterns/compression.py   # this lesson

grpcio's ways: ``compression=grpc.Compression.Gzip`` on a call (as here) or on the
channel (``grpc.insecure_channel(target, compression=...)``). grpcio has gzip and
deflate, not zstd, and it decompresses replies without telling the application how they
came (``grpc-encoding`` is not in ``call.initial_metadata()``). So the lesson puts a
small relay between itself and the server (wire.py) that reads the gRPC messages on the
wire: their size, and the flag each message carries that says it is compressed.
"""

from __future__ import annotations

import grpc

from common import echo_pb2, echo_pb2_grpc, notice, parser, step
from wire import Relay


def run(server: str) -> None:
    """Sends the same message uncompressed and with gzip, and compares the wire."""
    relay = Relay(server)
    try:
        with grpc.insecure_channel(relay.target) as channel:
            stub = echo_pb2_grpc.EchoStub(channel)
            stub.UnaryEcho(echo_pb2.EchoRequest(message="warm up"))  # connect first
            # 100 KB of text that repeats, as JSON or logs do.
            message = "the quick brown fox jumps over the lazy dog; " * 2300
            step(f"the same {len(message) // 1000} KB message, two ways")
            for name, compression in [
                ("none", grpc.Compression.NoCompression),
                ("gzip", grpc.Compression.Gzip),
            ]:
                asked, answered = len(relay.requests.messages), len(relay.replies.messages)
                reply = stub.UnaryEcho(
                    echo_pb2.EchoRequest(message=message), compression=compression
                )
                assert reply.message == message  # grpcio decompressed it for us
                request = relay.requests.messages[asked]
                response = relay.replies.messages[answered]
                print(
                    f"   {name:<5} request body {request.length:>7} bytes "
                    f"({'compressed' if request.compressed else 'plain'}); reply body "
                    f"{response.length:>7} bytes: the reply came back "
                    f"{'compressed' if response.compressed else 'plain'}"
                )
    finally:
        relay.close()
    notice("compression= compresses what this client sends; the server answered in kind.")
    notice("Small or random messages gain nothing: compress big, repetitive ones")


def main() -> None:
    run(parser(__doc__.splitlines()[0]).parse_args().server)


if __name__ == "__main__":
    main()
