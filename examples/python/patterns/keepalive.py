"""Lesson: keepalive. HTTP/2 PING frames check that the other side of an idle
connection is still there: a client pings to keep NATs and proxies from dropping a quiet
connection, and a server pings to find clients that vanished (a laptop closed, a network
gone) and free what they held. A side that does not answer in time is disconnected.

    cargo run --release -- --http2-keepalive-interval 1s --http2-keepalive-timeout 1s
    .venv/bin/python examples/python/patterns/keepalive.py

grpcio's ways: channel arguments. ``grpc.keepalive_time_ms`` (ping after this long
without activity), ``grpc.keepalive_timeout_ms`` (close if no answer by then),
``grpc.keepalive_permit_without_calls`` (ping even with no call open) and
``grpc.http2.max_pings_without_data`` (0: no limit on pings between data). grpcio
always answers the server's pings; to show a client that does not, the second step
speaks HTTP/2 by hand on a plain socket (wire.py), answering pings, then no longer.
"""

from __future__ import annotations

import socket
import time

import grpc

from common import echo_pb2, echo_pb2_grpc, header, notice, parser, step
from wire import ACK, GOAWAY, PING, PREFACE, SETTINGS, frame, read_frame

KEEPALIVE = [
    ("grpc.keepalive_time_ms", 500),
    ("grpc.keepalive_timeout_ms", 1000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


def peer(stub: echo_pb2_grpc.EchoStub) -> str:
    """The client address the server saw, from the echo service's `x-echo-peer`."""
    _, call = stub.UnaryEcho.with_call(echo_pb2.EchoRequest(message="ping?"), timeout=10)
    return header(call.initial_metadata(), "x-echo-peer")


def answer_pings(sock: socket.socket, seconds: float) -> str:
    """Reads frames for `seconds`, answering each PING; says how the connection is."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            received = read_frame(sock)
        except TimeoutError:
            break
        except OSError as error:
            return f"closed ({error})"
        if received is None:
            return "closed by the server"
        kind, flags, _, payload = received
        if kind == PING and not flags & ACK:
            sock.sendall(frame(PING, ACK, 0, payload))  # "still here"
        elif kind == SETTINGS and not flags & ACK:
            sock.sendall(frame(SETTINGS, ACK, 0))
        elif kind == GOAWAY:
            return "closed by the server (GOAWAY)"
    return "open"


def run(server: str, idle: float) -> None:
    """An idle connection that answers pings, and one that stops answering."""
    step("a grpcio channel with keepalive on, idle, then called again")
    with grpc.insecure_channel(server, options=KEEPALIVE) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        before = peer(stub)
        time.sleep(idle)
        after = peer(stub)
    print(f"   connected from {before}; after {idle:g} s idle, from {after}")
    print(f"   the same connection: {before == after}")
    notice("both sides pinged while idle, both answered: the connection stayed up")

    step("a hand-made HTTP/2 connection that answers pings, then stops")
    host, _, port = server.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(PREFACE + frame(SETTINGS, 0, 0))  # all a client must say to begin
        state = answer_pings(sock, idle)
        print(f"   answering pings for {idle:g} s: still open = {state == 'open'}")
        print(f"   now not reading for {idle:g} s: the server's pings go unanswered")
        time.sleep(idle)
        state = answer_pings(sock, 2)
        if state == "open":
            print("   the connection is still open")
        else:
            print(f"   the server closed the connection: {state}")
    notice("the server's ping went unanswered past its keepalive timeout, so it hung up:")
    notice("a client that vanished does not hold a connection, or its streams, forever")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--idle",
        type=float,
        default=3,
        help="seconds to stay idle (more than the server's interval plus timeout)",
    )
    args = arguments.parse_args()
    run(args.server, args.idle)


if __name__ == "__main__":
    main()
