"""Lesson: cancellation. A client that no longer wants an answer cancels the call: the
server is told (HTTP/2 RST_STREAM) and stops its work at once, instead of finishing
work nobody will read.

    cargo run --release                                         # the server
    .venv/bin/python examples/python/patterns/cancellation.py   # this lesson

grpcio's ways: a unary call started with ``.future()`` is cancelled with
``future.cancel()``; a streaming call is itself a ``grpc.Call`` with ``.cancel()``.
The lesson reads the server's metrics (``GET /metrics`` on the same port) before and
after: ``grpc_server_handled_total`` counts each call once it ends, by status code, and
a cancelled one as ``Canceled``. The server also logs "the handler stopped".
"""

from __future__ import annotations

import time

import grpc

from common import echo_pb2, echo_pb2_grpc, handled, notice, parser, step


def cancelled(server: str, method: str) -> int:
    return handled(server, method, "Canceled")


def counted(server: str, method: str, before: int) -> int:
    """The server's count of cancelled `method` calls, once it passed `before` (the
    server counts a call when its handler has stopped: wait for it, at most 10 s)."""
    for _ in range(200):
        now = cancelled(server, method)
        if now > before:
            return now
        time.sleep(0.05)
    return cancelled(server, method)


def run(server: str) -> None:
    """Cancels a unary call and a stream, and shows that the server noticed."""
    with grpc.insecure_channel(server) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        grpc.channel_ready_future(channel).result(timeout=10)  # connect first

        step("a unary call that would take 5 s, cancelled after 200 ms")
        before = cancelled(server, "UnaryEcho")
        future = stub.UnaryEcho.future(
            echo_pb2.EchoRequest(message="slow"), metadata=[("x-echo-delay-ms", "5000")]
        )
        try:
            future.result(timeout=0.2)  # wait at most 200 ms for the answer
            print("   the client stopped waiting: it answered")
        except grpc.FutureTimeoutError:
            future.cancel()  # ... then give up on it: the server is told
            print("   the client stopped waiting: cancelled")
        after = counted(server, "UnaryEcho", before)
        print(f"   server's count of cancelled UnaryEcho calls: {before} -> {after}")
        notice(
            "the server counted the call as Canceled at once, not 5 s later: its handler stopped"
        )

        step("a stream of 1000 replies, cancelled after 3")
        before = cancelled(server, "ServerStreamingEcho")
        replies = stub.ServerStreamingEcho(
            echo_pb2.EchoRequest(message="tick"),
            metadata=[("x-echo-count", "1000"), ("x-echo-interval-ms", "50")],
        )
        for n in range(1, 4):
            next(replies)
            print(f"   reply {n}")
        replies.cancel()
        after = counted(server, "ServerStreamingEcho", before)
        print(f"   server's count of cancelled ServerStreamingEcho calls: {before} -> {after}")
        notice("cancel() stopped the stream: the server stopped after 3 of 1000 replies")


def main() -> None:
    run(parser(__doc__.splitlines()[0]).parse_args().server)


if __name__ == "__main__":
    main()
