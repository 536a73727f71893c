"""Lesson: multiplexing. One HTTP/2 connection (a grpcio channel) carries many calls at
once, to any services of the server, each on its own stream: no connection per call, no
waiting for the call before.

    cargo run --release                                      # the server
    .venv/bin/python examples/python/patterns/multiplex.py   # this lesson

grpcio's ways: ``grpc.aio``, where each call is a coroutine and ``asyncio.gather``
runs them side by side on one channel. (With the blocking API, ``stub.Method.future()``
or threads do the same.)
"""

from __future__ import annotations

import asyncio
import time

import grpc

from common import echo_pb2, echo_pb2_grpc, header, notice, parser, step
import helloworld_pb2  # generated beside echo_pb2 (common.py makes it)
import helloworld_pb2_grpc


async def run(server: str, calls: int, delay_ms: int) -> None:
    """Runs concurrent calls to two services over one channel."""
    async with grpc.aio.insecure_channel(server) as channel:
        echo = echo_pb2_grpc.EchoStub(channel)
        greeter = helloworld_pb2_grpc.GreeterStub(channel)
        await channel.channel_ready()  # connect first, so that only the calls are timed

        async def slow_echo(i: int) -> str:
            call = echo.UnaryEcho(
                echo_pb2.EchoRequest(message=f"echo {i}"),
                metadata=[("x-echo-delay-ms", str(delay_ms))],
            )
            await call
            return header(await call.initial_metadata(), "x-echo-peer")  # our address

        async def greeting(i: int) -> str:
            reply = await greeter.SayHello(helloworld_pb2.HelloRequest(name=f"caller {i}"))
            return reply.message

        step(
            f"{calls} echo calls of {delay_ms} ms each, and {calls} greetings, "
            "all at once on one channel"
        )
        started = time.monotonic()
        answers = await asyncio.gather(
            *(slow_echo(i) for i in range(calls)), *(greeting(i) for i in range(calls))
        )
        seconds = time.monotonic() - started
        print(f"   {len(answers)} calls answered in {seconds:.2f} s on one channel")
        peers = set(answers[:calls])
        print(
            f"   the echoes all came from one client address: {len(peers) == 1} "
            f"({', '.join(peers)})"
        )
        notice(
            f"{calls} calls of {delay_ms} ms took about {delay_ms} ms, "
            f"not {calls * delay_ms / 1000:g} s:"
        )
        notice("they ran side by side, each on its own HTTP/2 stream of one connection;")
        notice("the greetings did not wait behind the slow echoes")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--calls", type=int, default=10, help="echo calls (and as many greetings)"
    )
    arguments.add_argument("--delay-ms", type=int, default=200, help="how long each echo takes")
    args = arguments.parse_args()
    asyncio.run(run(args.server, args.calls, args.delay_ms))


if __name__ == "__main__":
    main()
