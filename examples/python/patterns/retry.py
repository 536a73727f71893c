"""Lesson: retries. UNAVAILABLE means "try again": a client retries it after a pause
that grows each time (exponential backoff), or after the pause the server asks for, and
gives up after a few attempts.

    cargo run --release                                  # the server
    .venv/bin/python examples/python/patterns/retry.py   # this lesson

grpcio's ways: a retry policy in the channel's service config (the ``grpc.service_config``
channel argument, JSON): which methods, which status codes, how many attempts, and the
backoff. grpcio retries inside the channel, out of the application's sight (an
interceptor sees one call), so the lesson asks the server how many attempts it saw
(its ``/metrics``). grpcio's policy waits for the ``grpc-retry-pushback-ms`` trailer, not
for a google.rpc.RetryInfo detail: the last step honours RetryInfo with a loop of its
own. The echo service fails the first ``x-echo-fail-first`` calls that carry one
``x-echo-retry-key`` with UNAVAILABLE and a RetryInfo.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from common import echo_pb2, echo_pb2_grpc, handled, notice, parser, step


def service_config(attempts: int) -> str:
    """A retry policy for every method of the echo service."""
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": [{"service": "grpc.examples.echo.Echo"}],
                    "retryPolicy": {
                        "maxAttempts": attempts,  # the first call and its retries; at most 5
                        "initialBackoff": "0.05s",  # then 0.1 s, 0.2 s ..., each with jitter
                        "maxBackoff": "2s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


def attempts_seen(server: str, count) -> tuple[int, int]:
    """Runs `count()`; returns how many UnaryEcho calls the server failed with
    UNAVAILABLE and answered OK meanwhile."""
    before = handled(server, "UnaryEcho", "Unavailable"), handled(server, "UnaryEcho", "OK")
    count()
    after = handled(server, "UnaryEcho", "Unavailable"), handled(server, "UnaryEcho", "OK")
    return after[0] - before[0], after[1] - before[1]


def retry_delay(error: grpc.RpcError) -> float | None:
    """The pause a google.rpc.RetryInfo detail asks for, in seconds, if there is one."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToTimedelta().total_seconds()
    return None


def run(server: str) -> None:
    """Retries a flaky call until it succeeds, and one that keeps failing."""
    # A key of this run's own: the server counts the attempts per key.
    key = f"retry-lesson-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    hello = echo_pb2.EchoRequest(message="hello")
    outcome: dict[str, str] = {}

    def call(stub: echo_pb2_grpc.EchoStub, metadata: list[tuple[str, str]]) -> None:
        try:
            outcome["reply"] = (
                f'succeeded with "{stub.UnaryEcho(hello, metadata=metadata, timeout=20).message}"'
            )
        except grpc.RpcError as error:
            outcome["reply"] = f"gave up: {error.code().name}: {error.details()}"

    step("a call that fails twice, then succeeds; the policy allows 5 attempts")
    options = [("grpc.service_config", service_config(5))]
    with grpc.insecure_channel(server, options=options) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        flaky = [("x-echo-fail-first", "2"), ("x-echo-retry-key", f"{key}-a")]
        failed, answered = attempts_seen(server, lambda: call(stub, flaky))
    print(f"   {outcome['reply']}: one call for this program")
    print(
        f"   the server saw {failed + answered} attempts: {failed} UNAVAILABLE, then {answered} OK"
    )
    notice("grpcio retried by itself, after its exponential backoff")

    step("a call that always fails with UNAVAILABLE; the policy allows 3 attempts")
    options = [("grpc.service_config", service_config(3))]
    with grpc.insecure_channel(server, options=options) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        failed, answered = attempts_seen(
            server, lambda: call(stub, [("x-echo-status", "UNAVAILABLE")])
        )
    print(f"   {outcome['reply']}")
    print(f"   the server saw {failed + answered} attempts: {failed} UNAVAILABLE, {answered} OK")
    notice("the policy gave up after its attempts: retrying forever would make an overloaded")
    notice("server worse")

    step("the server's RetryInfo, honoured by hand (grpcio's policy does not read it)")
    # No policy on this channel: the loop decides.
    with grpc.insecure_channel(server, options=[("grpc.enable_retries", 0)]) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        flaky = [
            ("x-echo-fail-first", "2"),
            ("x-echo-retry-key", f"{key}-b"),
            ("x-echo-retry-delay-ms", "100"),
        ]
        for attempt in range(1, 6):
            try:
                reply = stub.UnaryEcho(hello, metadata=flaky, timeout=20)
                print(f'   attempt {attempt}: OK, "{reply.message}"')
                break
            except grpc.RpcError as error:
                delay = retry_delay(error)
                if error.code() != grpc.StatusCode.UNAVAILABLE or delay is None or attempt == 5:
                    print(f"   attempt {attempt}: {error.code().name}; giving up")
                    break
                print(
                    f"   attempt {attempt}: UNAVAILABLE; "
                    f"the server's RetryInfo says retry in {delay * 1000:.0f}ms"
                )
                time.sleep(delay)
    notice("a server that knows when it will be ready says so; a client should listen")


def main() -> None:
    run(parser(__doc__.splitlines()[0]).parse_args().server)


if __name__ == "__main__":
    main()
