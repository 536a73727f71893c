"""Lesson: name resolution. A channel's target is a name that a resolver turns into the
addresses of the server's instances, and that set changes while a client runs:
instances start and stop, and DNS or a service registry says so.

    cargo run --release -- --listen 127.0.0.1:50051 --listen 127.0.0.1:50052
    .venv/bin/python examples/python/patterns/name_resolving.py

grpcio's ways, and its gap: grpcio resolves the targets of gRPC's naming spec itself:
``dns:///host:port`` (the default scheme: every address the name has, looked up again
when connections fail and every 30 s at most), ``ipv4:`` and ``ipv6:`` lists of
addresses, and ``unix:`` paths. Unlike gRPC for C++, Go and Java, grpcio for Python has
no API for a resolver of your own (one that watches a registry and pushes each change
into a live channel). So here each change of the set is a new channel to the new set:
channels are cheap to make, and a program swaps in the new one for the next calls. For
names that DNS serves, the ``dns:`` resolver follows the changes by itself.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import grpc

from common import echo_pb2, echo_pb2_grpc, header, notice, step

OPTIONS = [
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
    # The authority grpcio would send for an ipv4: list is the list itself: name one.
    ("grpc.default_authority", "localhost"),
]


def calls(target: str) -> None:
    """Makes 20 calls on a channel to `target` and prints how many each instance answered."""
    print(f"   target {target}")
    with grpc.insecure_channel(target, options=OPTIONS) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = echo_pb2_grpc.EchoStub(channel)
        counts = Counter()
        for _ in range(20):
            _, call = stub.UnaryEcho.with_call(echo_pb2.EchoRequest(message="who?"), timeout=10)
            counts[header(call.initial_metadata(), "x-echo-instance")] += 1
    for name, n in sorted(counts.items()):
        print(f"   {name}: {n} calls")


def run(first: str, second: str) -> None:
    """Follows a set of instances that grows, then shrinks."""
    step("the resolver finds the first instance")
    calls(f"dns:///{first}")  # a name (or an address) that DNS resolves
    notice("dns: is what a bare host:port means; it finds every address of the name")

    step("a second instance starts: the resolver adds it")
    calls(f"ipv4:{first},{second}")
    notice("a new channel to both: grpcio takes no new addresses into a live channel")

    step("the first instance goes away: the resolver removes it")
    calls(f"ipv4:{second}")
    notice("every call went to the second instance; for a set that DNS serves, the dns:")
    notice("resolver does this by itself once a connection to a gone instance fails")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument(
        "--first", default="127.0.0.1:50051", help="the first instance, IPv4 host:port"
    )
    arguments.add_argument(
        "--second", default="127.0.0.1:50052", help="the second instance, IPv4 host:port"
    )
    args = arguments.parse_args()
    run(args.first, args.second)


if __name__ == "__main__":
    main()
