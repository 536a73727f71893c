"""The pattern lessons about calls (examples/python/patterns/): metadata, errors,
deadlines, cancellation, retries, interceptors, compression, multiplexing, flow control
and reflection. Each runs against a real server as a learner runs it, and its output
must show the thing it teaches. (Connections and servers: test_patterns_connections.py.)"""

from __future__ import annotations

import re

from harness import assert_all, line, run_lesson


def lesson(name: str, server, *args: str) -> str:
    return run_lesson(f"patterns/{name}.py", "--server", server.address, *args)


def test_metadata_comes_back_in_headers_then_trailers_and_binary_stays_binary(shared_server):
    out = lesson("metadata", shared_server)
    assert_all(
        out,
        [
            "header x-echo-lesson: metadata",
            "binary header x-echo-trace-bin: [1, 2, 3]",
            "3 messages",
            "trailer x-echo-trailer-lesson: metadata",
            "binary trailer x-echo-trailer-trace-bin: [1, 2, 3]",
            "header x-echo-lesson: unary",
            "trailer x-echo-trailer-lesson: unary",
        ],
    )
    # Headers before the messages, trailers after.
    header = out.index("header x-echo-lesson: metadata")
    messages = out.index("3 messages")
    trailer = out.index("trailer x-echo-trailer-lesson: metadata")
    assert header < messages < trailer, out


def test_error_details_reads_every_detail_type(shared_server):
    out = lesson("error_details", shared_server)
    assert_all(
        out,
        [
            "asked UNAVAILABLE        got UNAVAILABLE",
            "RESOURCE_EXHAUSTED: out of echoes",
            "RetryInfo: retry after 100ms",
            "QuotaFailure: echo-demo-quota",
            "ErrorInfo: reason ECHO_DETAIL_REQUESTED",
            "BadRequest: field message",
            "DebugInfo: x-echo-detail asked for debug info",
            "BadRequest: field x-echo-delay-ms",
        ],
    )


def test_deadline_ends_calls_and_propagation_stops_the_backend_early(shared_server):
    out = lesson("deadline", shared_server)
    assert "DEADLINE_EXCEEDED" in line(out, "after "), out
    # A stream of 10 replies 100 ms apart, cut at 350 ms: not all of them.
    stream = line(out, "replies, then DEADLINE_EXCEEDED")
    assert int(stream.split()[0]) < 10, out
    # The client gave up both times; the backend call ran to its end only without
    # propagation.
    assert out.count("client: DEADLINE_EXCEEDED") == 2, out
    backend = [text for text in out.splitlines() if "frontend: its backend call ended" in text]
    assert len(backend) == 2, out
    assert "ended OK" in backend[0], out
    assert "ended OK" not in backend[1], out


def went_up_by_one(out: str, method: str) -> None:
    before, after = line(out, f"count of cancelled {method} calls").rsplit(": ", 1)[1].split(" -> ")
    assert int(after) == int(before) + 1, out


def test_cancellation_is_seen_by_the_server(start_server):
    server = start_server()  # its own: the counts are this lesson's alone
    out = lesson("cancellation", server)
    assert "the client stopped waiting: cancelled" in out, out
    went_up_by_one(out, "UnaryEcho")
    went_up_by_one(out, "ServerStreamingEcho")
    assert "reply 3" in out, out
    # And each handler said it stopped.
    for method in ["UnaryEcho", "ServerStreamingEcho"]:
        assert server.logged("the handler stopped", f'"{method}"'), "".join(server.logs)


def test_retry_succeeds_on_the_third_attempt_and_gives_up_after_three(start_server):
    server = start_server()  # its own: the lesson counts attempts in the server's metrics
    out = lesson("retry", server)
    first, rest = out.split("always fails", 1)
    second, third = rest.split("honoured by hand", 1)
    assert 'succeeded with "hello"' in first, out
    assert "the server saw 3 attempts: 2 UNAVAILABLE, then 1 OK" in first, out
    assert "gave up: UNAVAILABLE" in second, out
    assert "the server saw 3 attempts: 3 UNAVAILABLE, 0 OK" in second, out
    assert third.count("RetryInfo says retry in 100ms") == 2, out
    assert 'attempt 3: OK, "hello"' in third, out


def test_interceptor_adds_headers_and_sees_every_call(shared_server):
    out = lesson("interceptor", shared_server)
    assert_all(
        out,
        [
            "first: x-echo-request-id 1 came back",
            "second: x-echo-request-id 2 came back",
            "[log] /grpc.examples.echo.Echo/UnaryEcho",
            "[log] /grpc.examples.echo.Echo/ServerStreamingEcho",
            "3 replies",
        ],
    )
    assert out.count("[log] /grpc.examples.echo.Echo/UnaryEcho") == 2, out


def wire(out: str, name: str) -> tuple[int, str]:
    """The request body's size and how the reply came, for one way of `compression`."""
    text = line(out, f"   {name} ")
    size = int(text.split("request body", 1)[1].split()[0])
    return size, text.rsplit("the reply came back ", 1)[1]


def test_compression_shrinks_the_bytes_on_the_wire_and_a_gzip_request_gets_a_gzip_reply(
    shared_server,
):
    out = lesson("compression", shared_server)
    (plain, _), (gzip, gzip_reply) = wire(out, "none"), wire(out, "gzip")
    assert plain > 100_000, out
    assert gzip * 10 < plain, out
    assert "(compressed)" in line(out, "   gzip "), out
    assert gzip_reply == "compressed", out


def test_compression_a_plain_request_gets_a_plain_reply(shared_server):
    # The server answers in the request's encoding: grpcio lists gzip in
    # grpc-accept-encoding on every call, but an uncompressed request is answered
    # uncompressed.
    out = lesson("compression", shared_server)
    assert "(plain)" in line(out, "   none "), out
    assert wire(out, "none")[1] == "plain", out


def test_multiplex_runs_calls_side_by_side_on_one_connection(shared_server):
    # Echoes of 1 s each: one after another, ten would take at least 10 s.
    out = lesson("multiplex", shared_server, "--delay-ms", "1000")
    answered = line(out, "calls answered in")
    assert "20 calls" in answered, out
    seconds = float(re.search(r"answered in ([0-9.]+) s", answered).group(1))
    assert seconds < 10, out
    assert "the echoes all came from one client address: True" in out, out


def test_flow_control_stalls_a_sender_whose_replies_are_not_read(shared_server):
    out = lesson("flow_control", shared_server)
    stalled = int(line(out, "without reading:").split("reading: ", 1)[1].split()[0])
    # Some messages went (the windows' worth), far from all 1000 (64 MB).
    assert 0 < stalled < 500, out
    assert "read all 1000 replies; 1000 messages sent" in out, out


def test_reflection_lists_describes_and_calls_with_no_generated_code(shared_server):
    out = lesson("reflection", shared_server)
    assert_all(
        out,
        [
            "   grpc.examples.echo.Echo\n",
            "   helloworld.Greeter\n",
            "rpc UnaryEcho(.grpc.examples.echo.EchoRequest) returns "
            "(.grpc.examples.echo.EchoResponse): unary",
            "rpc BidirectionalStreamingEcho(.grpc.examples.echo.EchoRequest) returns "
            "(.grpc.examples.echo.EchoResponse): bidirectional streaming",
            "// UnaryEcho is unary echo",
            'grpc.examples.echo.Echo.UnaryEcho: "found by reflection" came back',
        ],
    )
