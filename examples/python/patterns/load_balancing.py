"""Lesson: client-side load balancing. A client that knows several server instances
spreads its calls over them itself: by hand, with a channel per instance, or with one
channel over all of them and a load-balancing policy.

    cargo run --release -- --listen 127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053
    .venv/bin/python examples/python/patterns/load_balancing.py

grpcio's ways: a target that names several addresses (``ipv4:127.0.0.1:50051,127.0.0.1:50052``,
or a ``dns:`` name with several records), and the policy in the service config
(``"loadBalancingConfig": [{"round_robin": {}}]``, or the older channel argument
``grpc.lb_policy_name``). The default policy, ``pick_first``, sends everything to the
first address that answers. One server listening on three ports stands for three
instances: the echo service names the instance that answered (``x-echo-instance``,
host:port) in every reply.
"""

from __future__ import annotations

import json
from collections import Counter

import grpc

from common import echo_pb2, echo_pb2_grpc, header, notice, step

ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def instance(stub: echo_pb2_grpc.EchoStub) -> str:
    """The instance that answers one echo call on `stub`."""
    _, call = stub.UnaryEcho.with_call(echo_pb2.EchoRequest(message="who?"), timeout=10)
    return header(call.initial_metadata(), "x-echo-instance")


def show(counts: Counter) -> None:
    for name, calls in sorted(counts.items()):
        print(f"   {name}: {calls} calls")


def run(servers: list[str], calls: int) -> None:
    """Spreads calls over several instances and counts who answered."""
    step("one channel to the first instance")
    with grpc.insecure_channel(servers[0]) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        show(Counter(instance(stub) for _ in range(calls)))
    notice("a channel to one address: every call lands on the same instance")

    step("round robin by hand: a channel per instance, taken in turn")
    channels = [grpc.insecure_channel(server) for server in servers]
    try:
        stubs = [echo_pb2_grpc.EchoStub(channel) for channel in channels]
        show(Counter(instance(stubs[n % len(stubs)]) for n in range(calls)))
    finally:
        for channel in channels:
            channel.close()
    notice("exactly even, whatever each instance's load")

    target = "ipv4:" + ",".join(servers)  # one target, every address (numeric IPv4)
    # grpcio would send the whole list as the call's :authority ("host" header), which
    # is no valid authority: this server's HTTP/2 layer refuses such a call (INTERNAL,
    # "RST_STREAM with error code 1"). Name the service one name instead.
    authority = ("grpc.default_authority", "localhost")
    step(f"one channel to {target}, default policy (pick_first)")
    with grpc.insecure_channel(target, options=[authority]) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        show(Counter(instance(stub) for _ in range(calls)))
    notice("pick_first: one connection, to the first address that answers; the others are spares")

    step(f"one channel to {target}, round_robin in the service config")
    options = [("grpc.service_config", ROUND_ROBIN), authority]
    with grpc.insecure_channel(target, options=options) as channel:
        # Wait until it has connected: round_robin uses the connections that are ready.
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = echo_pb2_grpc.EchoStub(channel)
        show(Counter(instance(stub) for _ in range(calls)))
    notice("round_robin: a connection to every address, and each call to the next one;")
    notice("an instance that goes down drops out of the turn, and comes back when it answers")


def main() -> None:
    import argparse

    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument(
        "--servers",
        type=lambda text: text.split(","),
        default=["127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50053"],
        help="the instances, comma-separated IPv4 host:port",
    )
    arguments.add_argument("--calls", type=int, default=30, help="calls to make each way")
    args = arguments.parse_args()
    run(args.servers, args.calls)


if __name__ == "__main__":
    main()
