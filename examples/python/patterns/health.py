"""Lesson: health checking. Every server hosts ``grpc.health.v1.Health``: ``Check`` asks
whether a service (or, with "", the whole server) is SERVING now; ``Watch`` streams each
change. Load balancers and orchestrators use it to send calls only where they can be
answered; a client can too, and fail over to another instance.

    cargo run --release -- --listen 127.0.0.1:50051                   # the primary
    cargo run --release -- --listen 127.0.0.1:50052 --data-dir data2  # a backup
    .venv/bin/python examples/python/patterns/health.py --backup localhost:50052
    # ... then Ctrl-C the primary

grpcio's ways: grpcio-health-checking ships the generated code (``grpc_health.v1``).
(grpcio can also check health by itself, for a channel's load balancing, with
``"healthCheckConfig"`` in the service config.) A server goes NOT_SERVING when it
starts shutting down (SIGINT, SIGTERM), so the watcher hears of it before the port closes.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common import echo_pb2, echo_pb2_grpc, header, notice, parser, step

SERVING = health_pb2.HealthCheckResponse.SERVING


def status_name(status: int) -> str:
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


def instance(channel: grpc.Channel) -> str:
    """The instance that answers an echo call on `channel` (its x-echo-instance)."""
    _, call = echo_pb2_grpc.EchoStub(channel).UnaryEcho.with_call(
        echo_pb2.EchoRequest(message="who?"), timeout=10
    )
    return header(call.initial_metadata(), "x-echo-instance")


def run(server: str, backup: str, wait: float) -> None:
    """Checks and watches the primary's health, and fails over to the backup."""
    with grpc.insecure_channel(server) as primary, grpc.insecure_channel(backup) as spare:
        health = health_pb2_grpc.HealthStub(primary)

        step("check: the whole server, a service, and a service nobody hosts")
        for service in ["", "grpc.examples.echo.Echo", "no.such.Service"]:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                print(f'   "{service}": {status_name(reply.status)}')
            except grpc.RpcError as error:
                print(f'   "{service}": {error.code().name}: {error.details()}')
        notice(
            "an unknown service is NOT_FOUND for Check (Watch would answer SERVICE_UNKNOWN "
            "and wait)"
        )

        step("calls go to the primary while it is SERVING")
        print(f"   answered by {instance(primary)}")
        # The watch ends by itself after `wait` seconds (its deadline). Its first reply
        # is the status now; then one comes at each change.
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=wait)
        try:
            print(
                f"   watching the primary: {status_name(next(watch).status)}"
                " (stop it now to see the failover)"
            )
            change = next(reply.status for reply in watch if reply.status != SERVING)
            change = status_name(change)
        except StopIteration:
            change = "gone (the watch ended)"
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                print(f"   the primary stayed SERVING for {wait:g} s")
                return
            change = f"unreachable ({error.code().name})"
        watch.cancel()

        step("the primary is going away: fail over")
        print(f"   the primary is {change}: failing over to {backup}")
        reply = health_pb2_grpc.HealthStub(spare).Check(health_pb2.HealthCheckRequest(), timeout=10)
        print(f"   the backup is {status_name(reply.status)}")
        print(f"   answered by {instance(spare)}")
        notice("the watch said NOT_SERVING as the primary began to drain, before its calls failed")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--backup", default="localhost:50052", help="the backup server")
    arguments.add_argument(
        "--wait", type=float, default=300, help="seconds to wait for the primary to go NOT_SERVING"
    )
    args = arguments.parse_args()
    run(args.server, args.backup, args.wait)


if __name__ == "__main__":
    main()
