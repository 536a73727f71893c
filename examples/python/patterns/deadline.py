"""Lesson: deadlines. A client says how long it will wait (the ``grpc-timeout``
header); past it the call ends with DEADLINE_EXCEEDED and the server stops working on
it. A server that calls another service passes on the time that is left, so the whole
chain gives up together.

    cargo run --release                                     # the server
    .venv/bin/python examples/python/patterns/deadline.py   # this lesson

grpcio's ways: ``timeout=`` seconds on a call. A grpcio server reads the time left with
``context.time_remaining()``; grpcio for Python does not pass it on by itself (there is
no parent call to hang a new call on), so the server code passes
``timeout=context.time_remaining()`` to its own calls. The echo service waits
``x-echo-delay-ms`` before each reply. The last step starts a small grpcio server of
its own in this process, a "frontend" that calls the server.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc

from common import echo_pb2, echo_pb2_grpc, notice, parser, step


class Frontend(echo_pb2_grpc.EchoServicer):
    """Does 150 ms of its own work, then asks the backend's echo for the rest, which
    takes 200 ms: with or without passing on the time left."""

    def __init__(self, backend: echo_pb2_grpc.EchoStub, propagate: bool) -> None:
        self.backend = backend
        self.propagate = propagate
        self.backend_done = threading.Event()

    def UnaryEcho(self, request, context):  # noqa: N802  (the method's name in the proto)
        time.sleep(0.15)  # the frontend's own work
        timeout = context.time_remaining() if self.propagate else None
        started = time.monotonic()
        try:
            # A grpcio handler runs on to its end even when its client has given up.
            reply = self.backend.UnaryEcho(
                request, metadata=[("x-echo-delay-ms", "200")], timeout=timeout
            )
            outcome = "OK"
        except grpc.RpcError as error:
            reply, outcome = None, error.code().name
        took = (time.monotonic() - started) * 1000
        print(f"   frontend: its backend call ended {outcome} after {took:.0f} ms")
        self.backend_done.set()
        if reply is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the backend said {outcome}")
        return reply


def run(server: str) -> None:
    """Shows deadlines on a unary call, on a stream, and passed on to another service."""
    with grpc.insecure_channel(server) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        grpc.channel_ready_future(channel).result(timeout=10)  # connect first

        step("a unary call that takes 2 s, with a deadline of 300 ms")
        started = time.monotonic()
        try:
            stub.UnaryEcho(
                echo_pb2.EchoRequest(message="slow"),
                metadata=[("x-echo-delay-ms", "2000")],
                timeout=0.3,
            )
        except grpc.RpcError as error:
            took = (time.monotonic() - started) * 1000
            print(f"   after {took:.0f} ms: {error.code().name}: {error.details()}")
        notice("the call ended at its deadline, and the server stopped its work: whichever")
        notice("side's timer fires first, both say DEADLINE_EXCEEDED")

        step("a stream of 10 replies, 100 ms apart, with a deadline of 350 ms")
        replies = 0
        try:
            for _ in stub.ServerStreamingEcho(
                echo_pb2.EchoRequest(message="tick"),
                metadata=[("x-echo-count", "10"), ("x-echo-interval-ms", "100")],
                timeout=0.35,
            ):
                replies += 1
            print(f"   {replies} replies, then the stream ended OK")
        except grpc.RpcError as error:
            print(f"   {replies} replies, then {error.code().name}: {error.details()}")
        notice("the stream ended at the deadline, after the replies sent in time")

        step("propagation: client -> frontend (150 ms of work) -> server (200 ms), deadline 300 ms")
        for propagate in (False, True):
            frontend = Frontend(stub, propagate)
            service = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            echo_pb2_grpc.add_EchoServicer_to_server(frontend, service)
            port = service.add_insecure_port("127.0.0.1:0")
            service.start()
            print(f"   {'passing on' if propagate else 'not passing on'} the time left:")
            with grpc.insecure_channel(f"127.0.0.1:{port}") as to_frontend:
                try:
                    echo_pb2_grpc.EchoStub(to_frontend).UnaryEcho(
                        echo_pb2.EchoRequest(message="chain"), timeout=0.3
                    )
                    print("   client: OK")
                except grpc.RpcError as error:
                    print(f"   client: {error.code().name}")
                # Wait for the backend call to end and say so (at most 10 s).
                frontend.backend_done.wait(timeout=10)
            service.stop(grace=None)
        notice("without propagation the backend call ran its full 200 ms for a client that")
        notice("had given up at 300 ms; with it, it ended when the client's time ran out")


def main() -> None:
    run(parser(__doc__.splitlines()[0]).parse_args().server)


if __name__ == "__main__":
    main()
