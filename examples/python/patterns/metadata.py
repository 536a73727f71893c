"""Lesson: metadata. A gRPC call carries key-value headers both ways: request headers
from the client, response headers before the first message, and trailers after the
last one, with the status. A key ending in ``-bin`` carries bytes (base64 on the wire);
any other key carries ASCII text.

    cargo run --release                                     # the server
    .venv/bin/python examples/python/patterns/metadata.py   # this lesson

grpcio's ways: ``metadata=[(key, value), ...]`` on a call (a ``bytes`` value for a
``-bin`` key); ``call.initial_metadata()`` (the response headers, waiting for them if
need be) and ``call.trailing_metadata()`` (the trailers, once the call is over). A
unary call returns its ``grpc.Call`` too with ``.with_call(...)``. The echo service
sends every ``x-echo-*`` request header back in its response headers, and again in its
trailers renamed ``x-echo-trailer-*``; it adds ``x-echo-instance``, ``x-echo-peer`` and
``x-echo-server-time`` of its own.
"""

from __future__ import annotations

import grpc

from common import echo_pb2, echo_pb2_grpc, notice, parser, step


def show(what: str, metadata) -> None:
    """Prints the entries of `metadata` whose key starts with x-echo."""
    for key, value in metadata or ():
        if not key.startswith("x-echo"):
            continue
        if key.endswith("-bin"):
            print(f"   binary {what} {key}: {list(value)}")  # grpcio gives bytes
        else:
            print(f"   {what} {key}: {value}")


def run(server: str) -> None:
    """Sends metadata and prints what comes back."""
    with grpc.insecure_channel(server) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)

        step("request headers: one ASCII, one binary")
        metadata = [("x-echo-lesson", "metadata"), ("x-echo-trace-bin", bytes([1, 2, 3]))]
        print("   sent x-echo-lesson: metadata, and x-echo-trace-bin: [1, 2, 3]")

        step("a server stream: its headers come first, its trailers last")
        call = stub.ServerStreamingEcho(echo_pb2.EchoRequest(message="hi"), metadata=metadata)
        show("header", call.initial_metadata())
        notice("the headers arrived before any message: the server sends them first")
        messages = sum(1 for _ in call)
        print(f"   {messages} messages")
        show("trailer", call.trailing_metadata())
        notice("the trailers came after the last message, beside grpc-status")
        notice("the -bin value came back as the same bytes: binary metadata stays binary")

        step("a unary call: headers and trailers, each on its own")
        _, call = stub.UnaryEcho.with_call(
            echo_pb2.EchoRequest(message="hi"), metadata=[("x-echo-lesson", "unary")]
        )
        show("header", call.initial_metadata())
        show("trailer", call.trailing_metadata())
        notice("grpcio keeps them apart for every kind of call (x-echo-instance, -peer and")
        notice("-server-time are the server's own headers)")


def main() -> None:
    run(parser(__doc__.splitlines()[0]).parse_args().server)


if __name__ == "__main__":
    main()
