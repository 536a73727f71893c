"""Lesson: flow control. HTTP/2 gives every stream a window of bytes the receiver is
ready to take; a sender that has used its window waits. So a slow reader slows the
writer down, through the network, and nobody buffers without bound: memory stays flat
however fast one side is.

    cargo run --release                                         # the server
    .venv/bin/python examples/python/patterns/flow_control.py   # this lesson

grpcio's ways: with ``grpc.aio``, a streaming call's ``await call.write(message)``
returns only once grpcio has taken the message, so the writer waits when the windows
are full; ``async for reply in call`` reads. (The echo service's bidirectional call
answers each message as it arrives; it reads the next one only once its reply to the
last could go out.) grpcio sizes its receive window by measuring the connection
(``grpc.http2.bdp_probe``), so how many messages go before the stall varies a little.
"""

from __future__ import annotations

import asyncio
import base64
import os

import grpc

from common import echo_pb2, echo_pb2_grpc, notice, parser, step


async def run(server: str, total: int) -> None:
    """Sends much more than the windows hold without reading, then reads."""
    async with grpc.aio.insecure_channel(server) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        # 64 KiB of random text: no compression shrinks it (this server may compress its
        # replies, and 64 KiB of one letter would come back as a hundred bytes).
        body = base64.b64encode(os.urandom(48 * 1024)).decode()

        step(f"send {total} messages of 64 KiB, {total * 64 // 1000} MB in all, and read no reply")
        call = stub.BidirectionalStreamingEcho()
        sent = 0

        async def writer() -> None:
            nonlocal sent
            for _ in range(total):
                await call.write(echo_pb2.EchoRequest(message=body))  # waits for room
                sent += 1
            await call.done_writing()  # the end of our side of the stream

        writing = asyncio.create_task(writer())
        await asyncio.sleep(2)
        stalled = sent
        print(
            f"   after 2 s without reading: {stalled} of {total} messages sent, "
            "then the sender waited"
        )
        notice("the server stopped reading once its replies filled our window, and our writes")
        notice("stopped once our messages filled its window: a few MB in flight, not all of them")

        step("now read every reply")
        read = 0
        async for _ in call:
            read += 1
        await writing
        print(f"   read all {read} replies; {sent} messages sent")
        notice("reading opened the windows again, and the writer went on where it had stopped")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--messages", type=int, default=1000, help="messages to send")
    args = arguments.parse_args()
    asyncio.run(run(args.server, args.messages))


if __name__ == "__main__":
    main()
