"""Lesson: wait for ready. A call to a server that is not up yet fails at once with
UNAVAILABLE ("fail fast", the default); a client that should ride out a server's restart
instead waits for the connection, up to its deadline ("wait for ready").

    .venv/bin/python examples/python/patterns/wait_for_ready.py --server localhost:50052   # first
    cargo run --release -- --listen 127.0.0.1:50052                                        # then

grpcio's ways: ``wait_for_ready=True`` on a call, or ``"waitForReady": true`` in the
service config for every call of a method. While it has no connection, a grpcio channel
tries again and again, waiting longer each time; the channel arguments
``grpc.initial_reconnect_backoff_ms`` and ``grpc.max_reconnect_backoff_ms`` bound those
waits (here to 1 s at most, so the call goes through soon after the server is up).
"""

from __future__ import annotations

import json
import time

import grpc

from common import echo_pb2, echo_pb2_grpc, notice, parser, step

RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
WAIT_FOR_READY = json.dumps(
    {"methodConfig": [{"name": [{"service": "grpc.examples.echo.Echo"}], "waitForReady": True}]}
)


def run(server: str, wait: float) -> None:
    """Fails fast, then waits for the server to come up."""
    with grpc.insecure_channel(server, options=RECONNECT) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)

        step("fail fast: one call, no waiting")
        started = time.monotonic()
        try:
            stub.UnaryEcho(echo_pb2.EchoRequest(message="now?"), timeout=wait)
            print(
                "   the server is already up: stop it, or pick another --server, to see this fail"
            )
        except grpc.RpcError as error:
            took = (time.monotonic() - started) * 1000
            print(f"   failed fast after {took:.0f} ms: {error.code().name}: {error.details()}")
        notice("the default: a caller learns at once that the server is down, and decides")

        step(f"wait for ready: waiting for a server at {server} (up to {wait:g} s)")
        started = time.monotonic()
        reply = stub.UnaryEcho(
            echo_pb2.EchoRequest(message="ready"), wait_for_ready=True, timeout=wait
        )
        print(f"   connected after {time.monotonic() - started:.1f} s")
        print(f'   the call: OK, "{reply.message}" came back')
        notice("the call waited for the server instead of failing: right for a client that")
        notice("starts with its server, or rides out a restart; bound it with a deadline")

    step("the same for every call of a channel: waitForReady in the service config")
    options = [*RECONNECT, ("grpc.service_config", WAIT_FOR_READY)]
    with grpc.insecure_channel(server, options=options) as channel:
        reply = echo_pb2_grpc.EchoStub(channel).UnaryEcho(
            echo_pb2.EchoRequest(message="configured"), timeout=wait
        )
        print(f'   the call: OK, "{reply.message}" came back')


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--wait", type=float, default=60, help="seconds to wait for the server")
    args = arguments.parse_args()
    run(args.server, args.wait)


if __name__ == "__main__":
    main()
