//! grpc.examples.echo.Echo through a real client over a real socket: every behaviour a
//! client chooses in request metadata.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, bad_request_field, eventually};
use grpc_showcase::{
    proto::echo::{EchoRequest, EchoResponse, echo_client::EchoClient},
    server::Settings,
};
use tokio_stream::StreamExt;
use tonic::{
    Code, Request,
    metadata::{BinaryMetadataValue, MetadataMap},
    transport::Channel,
};
use tonic_types::StatusExt;

const INSTANCE: &str = "echo-test-instance";

async fn server() -> TestServer {
    TestServer::with_settings(Settings {
        instance_name: Some(INSTANCE.to_owned()),
        ..Settings::default()
    })
    .await
}

fn echo(message: &str, headers: &[(&'static str, &str)]) -> Request<EchoRequest> {
    let mut request = Request::new(EchoRequest {
        message: message.to_owned(),
    });
    for (name, value) in headers {
        request.metadata_mut().insert(*name, value.parse().unwrap());
    }
    request
}

fn ascii<'a>(metadata: &'a MetadataMap, name: &str) -> Option<&'a str> {
    metadata.get(name).map(|value| value.to_str().unwrap())
}

const BLOB: [u8; 5] = [0, 1, 2, 254, 255];

#[tokio::test]
async fn request_metadata_comes_back_in_headers_and_trailers() {
    let server = server().await;
    let mut client = EchoClient::new(server.channel().await);
    let mut request = echo("hi", &[("x-echo-id", "7"), ("x-other", "not echoed")]);
    request
        .metadata_mut()
        .insert_bin("x-echo-blob-bin", BinaryMetadataValue::from_bytes(&BLOB));
    let started = std::time::SystemTime::now();
    let response = client.unary_echo(request).await.unwrap();
    assert_eq!(response.get_ref().message, "hi");
    // tonic merges a unary call's trailers into its response metadata.
    let metadata = response.metadata();
    assert_eq!(ascii(metadata, "x-echo-id"), Some("7"));
    assert_eq!(ascii(metadata, "x-echo-trailer-id"), Some("7"));
    for name in ["x-echo-blob-bin", "x-echo-trailer-blob-bin"] {
        let value = metadata
            .get_bin(name)
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(value.to_bytes().unwrap().as_ref(), BLOB, "{name}");
    }
    assert_eq!(metadata.get("x-other"), None);
    assert_eq!(ascii(metadata, "x-echo-instance"), Some(INSTANCE));
    assert!(
        ascii(metadata, "x-echo-peer")
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{metadata:?}"
    );
    let time = humantime::parse_rfc3339(ascii(metadata, "x-echo-server-time").unwrap()).unwrap();
    assert!(time + Duration::from_secs(1) >= started);

    // A server stream: the echoed headers come first, the renamed ones in its trailers.
    let response = client
        .server_streaming_echo(echo("s", &[("x-echo-id", "8")]))
        .await
        .unwrap();
    assert_eq!(ascii(response.metadata(), "x-echo-id"), Some("8"));
    let mut stream = response.into_inner();
    while stream.message().await.unwrap().is_some() {}
    let trailers = stream.trailers().await.unwrap().unwrap();
    assert_eq!(ascii(&trailers, "x-echo-trailer-id"), Some("8"));
}

#[tokio::test]
async fn a_chosen_status_ends_the_call_with_the_details_asked_for() {
    let server = server().await;
    let mut client = EchoClient::new(server.channel().await);
    let status = client
        .unary_echo(echo(
            "x",
            &[
                ("x-echo-status", "resource_exhausted"),
                ("x-echo-message", "no more echoes today"),
                (
                    "x-echo-detail",
                    "retry-info,quota-failure,error-info,bad-request,debug-info",
                ),
                ("x-echo-id", "9"),
            ],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "no more echoes today");
    let details = status.get_error_details();
    assert!(details.retry_info().unwrap().retry_delay.is_some());
    assert_eq!(
        details.quota_failure().unwrap().violations[0].subject,
        "echo-demo-quota"
    );
    assert_eq!(
        details.error_info().unwrap().reason,
        "ECHO_DETAIL_REQUESTED"
    );
    assert_eq!(
        details.bad_request().unwrap().field_violations[0].field,
        "message"
    );
    assert!(!details.debug_info().unwrap().detail.is_empty());
    // The status's trailers carry the echoed metadata too.
    assert_eq!(ascii(status.metadata(), "x-echo-trailer-id"), Some("9"));

    // On a stream, the replies come first, then the status.
    let mut stream = client
        .server_streaming_echo(echo("y", &[("x-echo-status", "14"), ("x-echo-count", "2")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "y");
    assert_eq!(stream.message().await.unwrap().unwrap().message, "y");
    assert_eq!(
        stream.message().await.unwrap_err().code(),
        Code::Unavailable
    );
}

#[tokio::test]
async fn a_delay_past_the_deadline_is_deadline_exceeded() {
    let server = server().await;
    // A plain HTTP/2 client, so that the status is the server's, not the client's timer.
    let (plain, origin) = server.plain_client();
    let mut client = EchoClient::with_origin(plain, origin);
    let mut request = echo("slow", &[("x-echo-delay-ms", "5000")]);
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let status = client.unary_echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Within the deadline, the delayed reply arrives.
    let mut request = echo("on time", &[("x-echo-delay-ms", "50")]);
    request.set_timeout(Duration::from_secs(5));
    assert_eq!(
        client
            .unary_echo(request)
            .await
            .unwrap()
            .into_inner()
            .message,
        "on time"
    );
}

#[tokio::test]
async fn a_cancelled_stream_stops_its_handler() {
    let server = server().await;
    let mut client = EchoClient::new(server.channel().await);
    let mut stream = client
        .server_streaming_echo(echo(
            "tick",
            &[("x-echo-count", "1000"), ("x-echo-interval-ms", "20")],
        ))
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    stream.message().await.unwrap().unwrap();
    assert_eq!(server.streams.count(), 1);
    drop(stream);
    eventually("the handler stops", || server.streams.count() == 0).await;
}

#[tokio::test]
async fn flaky_calls_fail_first_then_succeed() {
    let server = server().await;
    let mut client = EchoClient::new(server.channel().await);
    let headers = [
        ("x-echo-fail-first", "2"),
        ("x-echo-retry-key", "flaky-test"),
        ("x-echo-retry-delay-ms", "40"),
    ];
    for attempt in 1..=2 {
        let status = client
            .unary_echo(echo("again", &headers))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "attempt {attempt}");
        let retry = status.get_error_details().retry_info().cloned().unwrap();
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(40)));
    }
    let reply = client.unary_echo(echo("again", &headers)).await.unwrap();
    assert_eq!(reply.into_inner().message, "again");
    // Another key starts its own count.
    let other = [("x-echo-fail-first", "1"), ("x-echo-retry-key", "other")];
    let status = client.unary_echo(echo("a", &other)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn streams_have_the_shape_asked_for() {
    let server = server().await;
    let mut client = EchoClient::new(server.channel().await);
    let default: Vec<_> = client
        .server_streaming_echo(echo("d", &[]))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(default.len(), 3);
    let started = Instant::now();
    let replies: Vec<_> = client
        .server_streaming_echo(echo(
            "s",
            &[("x-echo-count", "5"), ("x-echo-interval-ms", "20")],
        ))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(replies.len(), 5);
    assert!(replies.iter().all(|r| r.as_ref().unwrap().message == "s"));
    // Four pauses of 20 ms at least: a lower bound of the behaviour, not a speed.
    assert!(started.elapsed() >= Duration::from_millis(80));

    // Bidirectional: each request answered x-echo-count times, in order.
    let requests = tokio_stream::iter(["a", "b"].map(|m| EchoRequest {
        message: m.to_owned(),
    }));
    let mut request = Request::new(requests);
    request
        .metadata_mut()
        .insert("x-echo-count", "2".parse().unwrap());
    let replies: Vec<String> = client
        .bidirectional_streaming_echo(request)
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().message)
        .collect()
        .await;
    assert_eq!(replies, ["a", "a", "b", "b"]);

    // Client streaming: the last message, as grpc-go's examples answer.
    let requests = tokio_stream::iter(["1", "2", "3"].map(|m| EchoRequest {
        message: m.to_owned(),
    }));
    let reply = client.client_streaming_echo(requests).await.unwrap();
    assert_eq!(reply.into_inner().message, "3");
}

#[tokio::test]
async fn bad_headers_are_invalid_argument_naming_the_header() {
    let server = server().await;
    let mut client: EchoClient<Channel> = EchoClient::new(server.channel().await);
    for (headers, header) in [
        (&[("x-echo-status", "SOMETIMES")][..], "x-echo-status"),
        (&[("x-echo-delay-ms", "30001")], "x-echo-delay-ms"),
        (&[("x-echo-count", "1001")], "x-echo-count"),
        (&[("x-echo-interval-ms", "soon")], "x-echo-interval-ms"),
        (&[("x-echo-fail-first", "1")], "x-echo-retry-key"),
        (&[("x-echo-detail", "retry-info")], "x-echo-detail"),
    ] {
        let status = client.unary_echo(echo("x", headers)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{headers:?}");
        assert_eq!(bad_request_field(&status), header);
        assert!(status.message().contains(header), "{status:?}");
        // Streams check their headers before they start.
        let status = client
            .server_streaming_echo(echo("x", headers))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{headers:?}");
    }
}

/// Whether `value` is in Go's `time.StampNano` layout, `Jan _2 15:04:05.000000000`.
fn is_stamp_nano(value: Option<&str>) -> bool {
    let layout = "Jan _2 15:04:05.000000000";
    value.is_some_and(|v| {
        v.len() == layout.len()
            && v.bytes().zip(layout.bytes()).all(|(c, l)| match l {
                b'_' => c == b' ' || c.is_ascii_digit(),
                l if l.is_ascii_digit() => c.is_ascii_digit(),
                l => l.is_ascii_alphabetic() == c.is_ascii_alphabetic(),
            })
    })
}

#[tokio::test]
async fn every_reply_carries_the_metadata_examples_location_and_timestamps() {
    let server = server().await;
    let channel = server.channel().await;
    let mut client = EchoClient::new(channel.clone());
    // A server stream: location and timestamp in its headers, a timestamp in its trailers.
    let response = client.server_streaming_echo(echo("m", &[])).await.unwrap();
    assert_eq!(ascii(response.metadata(), "location"), Some("MTV"));
    assert!(is_stamp_nano(ascii(response.metadata(), "timestamp")));
    let mut stream = response.into_inner();
    while stream.message().await.unwrap().is_some() {}
    let trailers = stream.trailers().await.unwrap().unwrap();
    assert!(is_stamp_nano(ascii(&trailers, "timestamp")), "{trailers:?}");
    // An error before any reply (trailers-only): location and one timestamp.
    let status = client
        .unary_echo(echo("x", &[("x-echo-status", "NOT_FOUND")]))
        .await
        .unwrap_err();
    assert_eq!(ascii(status.metadata(), "location"), Some("MTV"));
    assert!(is_stamp_nano(ascii(status.metadata(), "timestamp")));

    // ClientStreamingEcho's headers come before the client sends a request, as grpc-go's
    // metadata client waits for them first.
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let (send, requests) = tokio::sync::mpsc::channel::<EchoRequest>(2);
    let path = "/grpc.examples.echo.Echo/ClientStreamingEcho";
    let call = grpc.streaming(
        Request::new(tokio_stream::wrappers::ReceiverStream::new(requests)),
        http::uri::PathAndQuery::from_static(path),
        tonic_prost::ProstCodec::<EchoRequest, EchoResponse>::default(),
    );
    let response = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the headers come before any request")
        .unwrap();
    assert_eq!(ascii(response.metadata(), "location"), Some("MTV"));
    send.send(message("a")).await.unwrap();
    send.send(message("b")).await.unwrap();
    drop(send);
    let mut stream = response.into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "b");
    let trailers = stream.trailers().await.unwrap().unwrap();
    assert!(is_stamp_nano(ascii(&trailers, "timestamp")), "{trailers:?}");
    // Its errors come in the trailers, with the timestamp.
    let mut request = Request::new(tokio_stream::iter([message("c")]));
    let aborted = "ABORTED".parse().unwrap();
    request.metadata_mut().insert("x-echo-status", aborted);
    let status = client.client_streaming_echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(is_stamp_nano(ascii(status.metadata(), "timestamp")));
}

/// An EchoRequest of `text`.
fn message(text: &str) -> EchoRequest {
    EchoRequest {
        message: text.to_owned(),
    }
}

/// A deadline of `timeout` on `request`.
fn within<T>(timeout: Duration, mut request: Request<T>) -> Request<T> {
    request.set_timeout(timeout);
    request
}

#[tokio::test]
async fn the_deadline_examples_messages_wait_and_propagate_the_deadline() {
    let server = server().await;
    // A plain HTTP/2 client, so that each status is the server's, not the client's timer.
    let (plain, origin) = server.plain_client();
    let client = EchoClient::with_origin(plain, origin);
    let second = Duration::from_secs(1);
    let unary = |message: &str, timeout: Duration| {
        let mut client = client.clone();
        let request = within(timeout, echo(message, &[]));
        async move {
            let started = Instant::now();
            let reply = client.unary_echo(request).await;
            (reply.map(|r| r.into_inner().message), started.elapsed())
        }
    };
    let bidi = |text: &'static str, timeout: Duration| {
        let mut client = client.clone();
        let request = within(timeout, Request::new(tokio_stream::iter([message(text)])));
        async move {
            let replies = client.bidirectional_streaming_echo(request).await?;
            let replies: Result<Vec<String>, _> = replies
                .into_inner()
                .map(|r| r.map(|r| r.message))
                .collect()
                .await;
            replies
        }
    };
    let (delay_past, delay, one, two, bidi_one, bidi_two) = tokio::join!(
        unary("delay", Duration::from_millis(300)),
        unary("delay", 5 * second),
        unary("[propagate me]world", 3 * second),
        unary(
            "[propagate me][propagate me]world",
            Duration::from_millis(1200)
        ),
        bidi("[propagate me]world", 5 * second),
        bidi("[propagate me][propagate me]world", second),
    );
    assert_eq!(delay_past.0.unwrap_err().code(), Code::DeadlineExceeded);
    assert!(delay.1 >= Duration::from_millis(1500), "{delay:?}");
    assert_eq!(delay.0.unwrap(), "delay");
    // One nested call: 800 ms, well within its deadline.
    assert!(one.1 >= Duration::from_millis(800), "{one:?}");
    assert_eq!(one.0.unwrap(), "world");
    // Two: the nested call gets the 400 ms left, not a deadline of its own, so the
    // second 800 ms wait cannot end in time.
    assert_eq!(two.0.unwrap_err().code(), Code::DeadlineExceeded);
    // A stream: the nested call's reply, then the rest of the message.
    assert_eq!(bidi_one.unwrap(), ["world", "world"]);
    assert_eq!(bidi_two.unwrap_err().code(), Code::DeadlineExceeded);
}
