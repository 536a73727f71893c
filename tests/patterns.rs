//! Smoke tests of the pattern lessons about calls (`examples/patterns/`): metadata,
//! errors, deadlines, cancellation, retries, interceptors, compression, multiplexing,
//! flow control and reflection. Each runs against a real server as a learner runs it,
//! and its output must show the thing it teaches. (The lessons about connections and
//! servers are in tests/patterns_connections.rs.)

mod common;

use common::lessons::{assert_all, lesson, line};

#[tokio::test]
async fn metadata_comes_back_in_headers_then_trailers_and_binary_stays_binary() {
    let out = lesson("metadata").await;
    assert_all(
        &out,
        &[
            "header x-echo-lesson: metadata",
            "binary header x-echo-trace-bin: [1, 2, 3]",
            "3 messages",
            "trailer x-echo-trailer-lesson: metadata",
            "binary trailer x-echo-trailer-trace-bin: [1, 2, 3]",
            "metadata x-echo-trailer-lesson: unary",
        ],
    );
    // Headers before the messages, trailers after.
    let header = out.find("header x-echo-lesson").unwrap();
    let messages = out.find("3 messages").unwrap();
    let trailer = out.find("trailer x-echo-trailer-lesson").unwrap();
    assert!(header < messages && messages < trailer, "{out}");
}

#[tokio::test]
async fn error_details_reads_every_detail_type() {
    let out = lesson("error_details").await;
    assert_all(
        &out,
        &[
            "asked UNAVAILABLE        got Unavailable",
            "ResourceExhausted: out of echoes",
            "RetryInfo: retry after 100ms",
            "QuotaFailure: echo-demo-quota",
            "ErrorInfo: reason ECHO_DETAIL_REQUESTED",
            "BadRequest: field message",
            "DebugInfo: x-echo-detail asked for debug info",
            "BadRequest: field x-echo-delay-ms",
        ],
    );
}

#[tokio::test]
async fn deadline_ends_calls_and_propagation_stops_the_backend_early() {
    let out = lesson("deadline").await;
    let unary = line(&out, "after ");
    assert!(
        unary.contains("DeadlineExceeded") || unary.contains("Cancelled"),
        "{out}"
    );
    // A stream of 10 replies 100 ms apart cut at 350 ms: some replies, not all.
    let stream = line(&out, "replies, then DeadlineExceeded");
    let replies: u32 = stream.split_whitespace().next().unwrap().parse().unwrap();
    assert!((1..10).contains(&replies), "{out}");
    // Without propagation the backend call ran to its end; with it, it was cut short.
    let backend: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("frontend: its backend call ended"))
        .collect();
    assert_eq!(backend.len(), 2, "{out}");
    assert!(backend[0].contains("ended OK"), "{out}");
    assert!(!backend[1].contains("ended OK"), "{out}");
}

/// The cancelled count of a method went up by one, from `line`'s "a -> b".
fn went_up_by_one(out: &str, method: &str) {
    let line = line(out, &format!("count of cancelled {method} calls"));
    let (before, after) = line
        .rsplit_once(": ")
        .unwrap()
        .1
        .split_once(" -> ")
        .unwrap();
    let (before, after): (u64, u64) = (before.parse().unwrap(), after.parse().unwrap());
    assert_eq!(after, before + 1, "{out}");
}

#[tokio::test]
async fn cancellation_is_seen_by_the_server() {
    let out = lesson("cancellation").await;
    assert!(
        out.contains("the client stopped waiting: cancelled"),
        "{out}"
    );
    went_up_by_one(&out, "UnaryEcho");
    went_up_by_one(&out, "ServerStreamingEcho");
    assert!(out.contains("reply 3"), "{out}");
}

#[tokio::test]
async fn retry_succeeds_on_the_third_attempt_and_gives_up_after_three() {
    let out = lesson("retry").await;
    let (first, second) = out.split_once("always fails").unwrap();
    assert_eq!(first.matches("   attempt").count(), 3, "{out}");
    assert_eq!(
        first.matches("RetryInfo says retry in 100ms").count(),
        2,
        "{out}"
    );
    assert!(
        first.contains("succeeded with \"hello\" after 3 attempts"),
        "{out}"
    );
    assert_eq!(second.matches("   attempt").count(), 3, "{out}");
    assert_eq!(second.matches("backing off").count(), 2, "{out}");
    assert!(
        second.contains("gave up after 3 attempts: Unavailable"),
        "{out}"
    );
}

#[tokio::test]
async fn interceptor_adds_headers_and_the_layer_sees_every_call() {
    let out = lesson("interceptor").await;
    assert_all(
        &out,
        &[
            "first: x-echo-request-id 1 came back",
            "second: x-echo-request-id 2 came back",
            "[log] /grpc.examples.echo.Echo/UnaryEcho",
            "[log] /grpc.examples.echo.Echo/ServerStreamingEcho",
        ],
    );
}

#[tokio::test]
async fn compression_shrinks_the_bytes_on_the_wire() {
    let out = lesson("compression").await;
    // (request body, reply body, the reply's encoding) of a way
    let sizes = |name: &str| -> (u64, u64, String) {
        let line = line(&out, &format!("   {name} "));
        let number = |after: &str| -> u64 {
            let rest = line.split(after).nth(1).unwrap();
            rest.split_whitespace().next().unwrap().parse().unwrap()
        };
        let encoding = line.rsplit(' ').next().unwrap().to_owned();
        (number("request body"), number("reply body"), encoding)
    };
    let (none, none_reply, none_encoding) = sizes("none");
    assert!(none > 100_000 && none_reply > 100_000, "{out}");
    assert_eq!(none_encoding, "identity", "{out}");
    // Accepting gzip is not asking for it: the reply comes back plain.
    let (accept, accept_reply, accept_encoding) = sizes("accepts gzip only");
    assert!(accept > 100_000 && accept_reply > 100_000, "{out}");
    assert_eq!(accept_encoding, "identity", "{out}");
    for name in ["gzip", "zstd"] {
        let (request, reply, encoding) = sizes(name);
        assert!(
            request * 10 < none && reply * 10 < none_reply,
            "{name}: {out}"
        );
        assert_eq!(encoding, name, "{out}");
    }
}

#[tokio::test]
async fn multiplex_runs_calls_side_by_side_on_one_connection() {
    let out = lesson("multiplex").await;
    let line = line(&out, "calls answered in");
    assert!(line.contains("20 calls"), "{out}");
    let seconds: f64 = line
        .split("answered in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    // Ten 200 ms echoes one after another would take 2 s: they overlapped.
    assert!(seconds < 2.0, "{out}");
}

#[tokio::test]
async fn flow_control_stalls_a_sender_whose_replies_are_not_read() {
    let out = lesson("flow_control").await;
    let line = line(&out, "without reading:");
    let stalled: usize = line
        .split("reading: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    // Some messages went (the windows' worth), far from all 1000 (64 MB).
    assert!(stalled > 0 && stalled < 500, "{out}");
    assert!(
        out.contains("read all 1000 replies; 1000 messages sent"),
        "{out}"
    );
}

#[tokio::test]
async fn reflection_lists_and_describes_with_no_generated_code() {
    let out = lesson("reflection").await;
    assert_all(
        &out,
        &[
            "   grpc.examples.echo.Echo\n",
            "   helloworld.Greeter\n",
            "rpc UnaryEcho(.grpc.examples.echo.EchoRequest) returns (.grpc.examples.echo.EchoResponse): unary",
            "rpc BidirectionalStreamingEcho(.grpc.examples.echo.EchoRequest) returns (.grpc.examples.echo.EchoResponse): bidirectional streaming",
            "// UnaryEcho is unary echo",
        ],
    );
}
