"""A client of ``helloworld.Greeter`` showing each of its RPC styles.

Start the server (``cargo run --release``), then in another terminal::

    .venv/bin/python examples/python/greeter.py
    .venv/bin/python examples/python/greeter.py --name Ada --server localhost:50051
    .venv/bin/python examples/python/greeter.py --compression gzip   # compress both ways
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import grpc

import protos  # noqa: F401  (generates the code from proto/ on first use)
import helloworld_pb2
import helloworld_pb2_grpc

COMPRESSION = {
    "none": grpc.Compression.NoCompression,
    "gzip": grpc.Compression.Gzip,
    "deflate": grpc.Compression.Deflate,
}


def names_slowly(names: list[str]) -> Iterator[helloworld_pb2.HelloRequest]:
    """The request stream of the bidirectional call: one name every 100 ms.

    grpcio reads this iterator on a thread of its own, so it may block (sleep, wait
    for input) while the replies are read here.
    """
    for i, name in enumerate(names):
        if i:
            time.sleep(0.1)
        yield helloworld_pb2.HelloRequest(name=name)


def run(server: str, name: str, compression: str) -> None:
    """Calls every Greeter RPC once and prints what comes back."""
    # One channel (an HTTP/2 connection) carries every call below, concurrently if need
    # be. `compression=` compresses every request sent on it; grpcio always tells the
    # server it accepts gzip and deflate replies (grpc-accept-encoding).
    with grpc.insecure_channel(server, compression=COMPRESSION[compression]) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)

        print("== unary: one request, one reply")
        # `with_call` also returns the call, to read its metadata.
        reply, call = stub.SayHello.with_call(helloworld_pb2.HelloRequest(name=name))
        print(f"SayHello      -> {reply.message}")
        if compression != "none":
            # grpcio decompresses replies itself and keeps the grpc-encoding header from
            # the application: patterns/compression.py looks at the wire to see it.
            print(
                f"                 (requests carry grpc-encoding {compression!r}; grpcio sends a"
                " message this small plain all the same)"
            )
        reply = stub.SayHelloAgain(helloworld_pb2.HelloRequest(name=name))
        print(f"SayHelloAgain -> {reply.message}")

        print("\n== server streaming: one request, replies arrive one by one")
        started = time.monotonic()
        # The call is an iterator of replies; it ends when the server ends the stream
        # with OK, and raises grpc.RpcError for an error status.
        for reply in stub.SayHelloStreamReply(helloworld_pb2.HelloRequest(name=name)):
            print(f"{(time.monotonic() - started) * 1000:>5.0f} ms  {reply.message}")

        print("\n== bidirectional streaming: names go out as replies come back")
        started = time.monotonic()
        for reply in stub.SayHelloBidiStream(names_slowly(["Ada", "Grace", "Barbara"])):
            print(f"{(time.monotonic() - started) * 1000:>5.0f} ms  {reply.message}")

        print("\n== a deadline: the server ends the stream when it passes")
        # `timeout=` (seconds) is sent as the grpc-timeout header; the server ends the
        # call with DEADLINE_EXCEEDED when it passes, and stops the work for it.
        received = 0
        try:
            for _ in stub.SayHelloStreamReply(helloworld_pb2.HelloRequest(name=name), timeout=0.5):
                received += 1
            print(f"the stream finished before its deadline ({received} replies)")
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
            print(f"{received} replies, then {error.code().name}: {error.details()}")

        print("\n== an error: the status code and its message")
        try:
            stub.SayHello(helloworld_pb2.HelloRequest(name=""))
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--server", default="localhost:50051", help="host:port")
    arguments.add_argument("--name", default="World", help="who to greet")
    arguments.add_argument(
        "--compression",
        choices=COMPRESSION,
        default="none",
        help="compress requests (grpcio has gzip and deflate; the server takes gzip, deflate and zstd)",
    )
    args = arguments.parse_args()
    run(args.server, args.name, args.compression)


if __name__ == "__main__":
    main()
