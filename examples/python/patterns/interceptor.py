"""Lesson: interceptors. Code that runs on every call, around the call itself: here one
interceptor adds headers to every request (a bearer token and a request id), and
another logs and times every call, whatever its RPC style.

    cargo run --release                                        # the server
    .venv/bin/python examples/python/patterns/interceptor.py   # this lesson

grpcio's ways: classes implementing ``grpc.UnaryUnaryClientInterceptor``,
``grpc.UnaryStreamClientInterceptor`` (and the two client-streaming ones), wrapped around
a channel with ``grpc.intercept_channel(channel, *interceptors)``. Each gets the call's
details (method, timeout, metadata...) and a ``continuation`` that makes the call. The
echo service sends back every ``x-echo-*`` header: the request id the interceptor added
comes back, which shows it was really sent.
"""

from __future__ import annotations

import collections
import itertools
import time

import grpc

from common import echo_pb2, echo_pb2_grpc, header, notice, parser, step


class CallDetails(
    collections.namedtuple(
        "CallDetails",
        ["method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"],
    ),
    grpc.ClientCallDetails,
):
    """grpc.ClientCallDetails is abstract: this is a concrete one, to change a call's."""


class AddHeaders(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization` and a fresh `x-echo-request-id` to every request."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)

    def _with_headers(self, details: grpc.ClientCallDetails) -> CallDetails:
        metadata = list(details.metadata or [])
        metadata.append(("authorization", "Bearer lesson-token"))
        metadata.append(("x-echo-request-id", str(next(self.ids))))
        return CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_headers(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_headers(details), request)


class Log(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Prints each call's method and how long its response headers took to come."""

    def _logged(self, continuation, details, request):
        started = time.monotonic()
        call = continuation(details, request)  # the call has started; nothing waited yet
        call.initial_metadata()  # waits for the response headers
        took = (time.monotonic() - started) * 1000
        print(f"   [log] {details.method}: response headers after {took:.1f} ms")
        return call

    def intercept_unary_unary(self, continuation, details, request):
        return self._logged(continuation, details, request)

    def intercept_unary_stream(self, continuation, details, request):
        return self._logged(continuation, details, request)


def run(server: str) -> None:
    """Calls through the two interceptors."""
    with grpc.insecure_channel(server) as plain:
        # The first interceptor listed is the outermost: Log sees the call first.
        channel = grpc.intercept_channel(plain, Log(), AddHeaders())
        stub = echo_pb2_grpc.EchoStub(channel)

        step("two unary calls through the interceptors")
        for message in ["first", "second"]:
            _, call = stub.UnaryEcho.with_call(echo_pb2.EchoRequest(message=message))
            request_id = header(call.initial_metadata(), "x-echo-request-id", "(none)")
            print(f"   {message}: x-echo-request-id {request_id} came back")
        notice("the interceptor added the headers; the server echoed the request id it received")

        step("a server stream, through the same interceptors")
        replies = stub.ServerStreamingEcho(
            echo_pb2.EchoRequest(message="tick"), metadata=[("x-echo-count", "3")]
        )
        print(f"   {sum(1 for _ in replies)} replies")
        notice("the interceptors saw every call, whatever its RPC style")


def main() -> None:
    run(parser(__doc__.splitlines()[0]).parse_args().server)


if __name__ == "__main__":
    main()
