"""Lesson: Unix domain sockets. A server can listen on a file path instead of a TCP
port: only processes on the same machine, with the file's permissions, can connect, and
no port is open to the network. Sidecars and local agents talk gRPC this way.

    cargo run --release -- --listen 127.0.0.1:50051 --listen unix:/tmp/grpc-showcase.sock
    .venv/bin/python examples/python/patterns/unix_socket.py
    grpcurl -plaintext -unix -authority localhost /tmp/grpc-showcase.sock list

grpcio's ways: the target ``unix:PATH`` (``unix:relative/path`` or
``unix:///absolute/path``). grpcio sends the path, percent-encoded, as the calls'
``:authority`` (``tmp%2Fgrpc-showcase.sock``), which this server's HTTP/2 layer refuses
as malformed (INTERNAL: "RST_STREAM with error code 1"): the channel argument
``grpc.default_authority`` names the server ``localhost`` instead, as grpcurl does.
"""

from __future__ import annotations

import argparse

import grpc

from common import echo_pb2, echo_pb2_grpc, header, notice, step


def run(socket_path: str) -> None:
    """Calls the server over its Unix domain socket."""
    step(f"connect to unix:{socket_path}")
    options = [("grpc.default_authority", "localhost")]  # see the docstring
    with grpc.insecure_channel(f"unix:{socket_path}", options=options) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=10)
        except grpc.FutureTimeoutError:
            raise SystemExit(
                f"cannot connect to {socket_path} (start the server with --listen unix:PATH)"
            ) from None
        stub = echo_pb2_grpc.EchoStub(channel)

        step("a call over the socket")
        reply, call = stub.UnaryEcho.with_call(
            echo_pb2.EchoRequest(message="over a socket file"), timeout=10
        )
        metadata = call.initial_metadata()
        print(
            f"   instance {header(metadata, 'x-echo-instance')}, "
            f"peer {header(metadata, 'x-echo-peer')}"
        )
        print(f'   "{reply.message}" came back')
    notice("the server saw a Unix socket peer, with the client's process id: no address, no port")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument(
        "--socket", default="/tmp/grpc-showcase.sock", help="the server's socket"
    )
    run(arguments.parse_args().socket)


if __name__ == "__main__":
    main()
