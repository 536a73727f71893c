"""A client of ``feedback.FeedbackService``, in three modes::

    .venv/bin/python examples/python/feedback.py send --consumer alice   # type lines, see replies
    .venv/bin/python examples/python/feedback.py send --count 20         # send 20 scripted ones
    .venv/bin/python examples/python/feedback.py watch                   # print feedback live
    .venv/bin/python examples/python/feedback.py list                    # read it back, by pages

Start the server first (``cargo run --release``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

import grpc

import protos  # noqa: F401  (generates the code from proto/ on first use)
import feedback_pb2
import feedback_pb2_grpc

# Scripted feedback, cycling through the three sentiments.
SCRIPT = [
    "The delivery was fast and the courier was lovely!",
    "My order arrived on Tuesday.",
    "The box was crushed and two items were broken. Very disappointing.",
    "Great prices, I will order again :)",
    "I changed my address in the app.",
    "Support never answered my emails, terrible.",
]


def scripted(consumer: str, count: int) -> Iterator[feedback_pb2.FeedbackRequest]:
    for i in range(count):
        yield feedback_pb2.FeedbackRequest(consumer_id=consumer, feedback=SCRIPT[i % len(SCRIPT)])


def typed(consumer: str) -> Iterator[feedback_pb2.FeedbackRequest]:
    """One request per line typed; Ctrl-D ends the stream. grpcio reads this iterator
    on a thread of its own, so waiting for the terminal does not hold up the replies."""
    print("type feedback, one per line; Ctrl-D to finish", file=sys.stderr)
    for line in sys.stdin:
        yield feedback_pb2.FeedbackRequest(consumer_id=consumer, feedback=line.rstrip("\n"))


def send(stub: feedback_pb2_grpc.FeedbackServiceStub, consumer: str, count: int | None) -> None:
    """Bidirectional streaming: send feedback and print each reply as it comes."""
    requests = typed(consumer) if count is None else scripted(consumer, count)
    # Each reply arrives once its feedback is on disk, in the order sent.
    for reply in stub.SendFeedback(requests):
        if reply.HasField("error"):
            print(f"#{reply.index} refused ({reply.error.code}): {reply.error.message}")
        else:
            print(
                f"#{reply.index} stored as feedback {reply.feedback_id} "
                f"[{reply.sentiment} {reply.sentiment_score:+.3f}] {reply.response_message}"
            )


def watch(
    stub: feedback_pb2_grpc.FeedbackServiceStub,
    consumer: str,
    sentiment: str,
    replay_after: int | None,
    limit: int | None,
) -> None:
    """Server streaming: print feedback as it is stored (after the replay, if asked)."""
    request = feedback_pb2.WatchFeedbackRequest(consumer_id=consumer, sentiment=sentiment)
    if replay_after is not None:
        request.replay_after_id = replay_after  # an `optional` field: set, or not sent
    events = stub.WatchFeedback(request)
    shown = 0
    for event in events:
        if event.HasField("feedback"):
            f = event.feedback
            print(
                f"{f.id:>6} {f.consumer_id:<12} {f.sentiment:<8} "
                f"{f.sentiment_score:+.3f}  {f.feedback}"
            )
            shown += 1
            if limit is not None and shown >= limit:
                # We want no more: cancelling tells the server to stop the stream.
                events.cancel()
                break
        elif event.HasField("lagged"):
            print(
                f"fell behind by {event.lagged.missed} feedbacks; "
                f"resume with --replay-after {event.lagged.resume_after_id}"
            )


def list_pages(stub: feedback_pb2_grpc.FeedbackServiceStub, page_size: int) -> None:
    """Unary, paginated: each reply carries the token of the next page ("" at the end)."""
    page_token, page_number = "", 1
    while True:
        page = stub.ListFeedback(
            feedback_pb2.ListFeedbackRequest(page_size=page_size, page_token=page_token)
        )
        print(f"-- page {page_number}")
        for f in page.feedback:
            print(f"{f.id:>6} {f.consumer_id:<12} {f.sentiment:<8} {f.feedback}")
        if not page.next_page_token:
            break
        page_token, page_number = page.next_page_token, page_number + 1


def run(args: argparse.Namespace) -> None:
    """Sends, watches or lists feedback, as `args.mode` says."""
    with grpc.insecure_channel(args.server) as channel:
        stub = feedback_pb2_grpc.FeedbackServiceStub(channel)
        try:
            if args.mode == "send":
                send(stub, args.consumer, args.count)
            elif args.mode == "watch":
                watch(stub, args.consumer, args.sentiment, args.replay_after, args.limit)
            else:
                list_pages(stub, args.page_size)
        except grpc.RpcError as error:
            sys.exit(f"{error.code().name}: {error.details()}")


def main() -> None:
    arguments = argparse.ArgumentParser(description="Sends, watches or lists feedback.")
    arguments.add_argument("--server", default="localhost:50051", help="host:port")
    modes = arguments.add_subparsers(dest="mode", required=True)
    send_mode = modes.add_parser("send", help="bidirectional streaming: send feedback")
    send_mode.add_argument("--consumer", default="alice", help="who sends it")
    send_mode.add_argument("--count", type=int, help="send this many scripted feedbacks")
    watch_mode = modes.add_parser("watch", help="server streaming: print feedback live")
    watch_mode.add_argument("--consumer", default="", help="only this consumer's")
    watch_mode.add_argument("--sentiment", default="", help="positive, neutral or negative")
    watch_mode.add_argument("--replay-after", type=int, help="first replay what is after this id")
    watch_mode.add_argument("--limit", type=int, help="stop after this many feedbacks")
    list_mode = modes.add_parser("list", help="unary, paginated: print the stored feedback")
    list_mode.add_argument("--page-size", type=int, default=20, help="feedbacks per page")
    run(arguments.parse_args())


if __name__ == "__main__":
    main()
