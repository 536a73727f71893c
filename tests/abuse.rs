//! What a hostile client tries, with bounded counts and times: each attack runs through
//! a real client over a real socket, while a caller from another host (loopback
//! 127.0.0.2) checks that it is still served.
//!
//! - Frames sent and never read: the server's memory stays within its budget.
//! - Calls that send headers and never a message, filling every call slot: the other
//!   callers are still served (per-caller quota), with auth off (one peer) and on (one
//!   token), and the held calls end after the first-message timeout.
//!
//! The attacks on idle and stalled connections are in tests/stalled.rs, those on
//! framing in tests/framing.rs, oversized values in tests/bounded_errors.rs.

mod common;

use std::{sync::Arc, time::Duration};

use common::{TestServer, running::Running, video};
use grpc_showcase::{
    domain::auth::Tokens,
    proto::{
        fraud_detection::{
            PredictionRequest, fraud_detection_service_client::FraudDetectionServiceClient,
        },
        helloworld::{HelloRequest, greeter_client::GreeterClient},
        interop::{
            ResponseParameters, StreamingOutputCallRequest, test_service_client::TestServiceClient,
        },
        video::Encoding,
    },
    server::Settings,
};
use tokio::net::TcpStream;
use tonic::{
    Code, Request,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// A connection from another host (loopback 127.0.0.2), hence another caller.
async fn from_other_host(url: &str) -> Channel {
    Endpoint::from_shared(url.to_owned())
        .unwrap()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .connect()
        .await
        .expect("connect from 127.0.0.2")
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request.set_timeout(Duration::from_secs(10));
    request
}

/// A caller from another host is served: SayHello, PredictFraud and a health check get
/// OK (with `token` when auth is on).
async fn another_caller_is_served(url: &str, token: Option<&str>) {
    let channel = from_other_host(url).await;
    let hello = GreeterClient::new(channel.clone())
        .say_hello(with_token(
            HelloRequest {
                name: "bystander".into(),
            },
            token,
        ))
        .await
        .expect("SayHello from another caller");
    assert!(hello.into_inner().message.contains("bystander"));
    let fraud = FraudDetectionServiceClient::new(channel.clone())
        .predict_fraud(with_token(
            PredictionRequest {
                transaction_id: 7,
                amount: 950.0,
                time: 1_700_003_600,
                age_of_account: 3,
                number_of_transactions: 12,
            },
            token,
        ))
        .await
        .expect("PredictFraud from another caller");
    assert_eq!(fraud.into_inner().transaction_id, 7);
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .expect("a health check");
}

/// The resident set size of process `pid`, bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kb * 1024
}

const MIB: u64 = 1024 * 1024;

/// The server binary with `stream` and `total` bytes of memory budget, warmed up (the
/// runtime's threads, the models), and its RSS then.
async fn budgeted_server(stream: u64, total: u64) -> (Running, u64) {
    let server = Running::start_with(
        tempfile::tempdir().unwrap(),
        &[
            "--stream-memory",
            &stream.to_string(),
            "--memory-budget",
            &total.to_string(),
        ],
    );
    another_caller_is_served(&server.url(), None).await;
    let before = rss(server.pid());
    (server, before)
}

/// The server's largest RSS over `samples` x 100 ms, less `before`, checked to be under
/// `budget`.
async fn assert_growth_under(server: &Running, before: u64, budget: u64, samples: usize) {
    let mut peak = 0;
    for _ in 0..samples {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss(server.pid()));
    }
    let growth = peak.saturating_sub(before);
    eprintln!(
        "RSS {} MiB before, {} MiB at the peak: {} MiB of growth (budget {} MiB)",
        before / MIB,
        peak / MIB,
        growth / MIB,
        budget / MIB
    );
    assert!(
        growth < budget,
        "grew {} MiB, over the {} MiB budget",
        growth / MIB,
        budget / MIB
    );
}

/// 32 streams of one connection ask for 4K raw output (24.9 MB a frame) from 2 x 2
/// frames (12 bytes), 40 frames each, and never read a reply. Before the budgets this
/// took the server from 123 MB to 2.2 GB. Now its growth stays under the memory
/// budget (one caller may hold half of it), and a caller from another host still gets
/// its frames processed.
#[tokio::test]
async fn frames_never_read_hold_no_more_than_the_memory_budget() {
    let budget = 256 * MIB;
    let (server, before) = budgeted_server(64 * MIB, budget).await;
    let attacker = Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..32 {
        let mut messages = vec![video::config(
            "resize",
            &[("width", 3840.0), ("height", 2160.0)],
            Encoding::Rgb8,
        )];
        messages.extend((0..40).map(|n| video::frame(n, 2, 2, Encoding::Rgb8, vec![9; 12])));
        let replies = video::client(attacker.clone())
            .process_frames(tokio_stream::iter(messages))
            .await
            .expect("the stream starts");
        held.push(replies); // never read
    }
    assert_growth_under(&server, before, budget, 80).await;

    // Meanwhile, another caller is served, video included.
    another_caller_is_served(&server.url(), None).await;
    let mut replies = video::client(from_other_host(&server.url()).await)
        .process_frames(tokio_stream::iter(vec![
            video::config("invert", &[], Encoding::Unspecified),
            video::frame(0, 2, 2, Encoding::Rgb8, vec![0; 12]),
        ]))
        .await
        .expect("another caller's stream starts")
        .into_inner();
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.message())
        .await
        .expect("another caller's frame is processed while the attack holds its budget")
        .unwrap()
        .unwrap();
    assert_eq!(reply.frame.unwrap().data, vec![255; 12]);
    drop(held);
}

/// Calls held open, each having sent its headers only, until dropped.
struct HeldCalls {
    _bodies: Vec<h2::SendStream<bytes::Bytes>>,
    _client: h2::client::SendRequest<bytes::Bytes>,
    connection: tokio::task::JoinHandle<Result<(), h2::Error>>,
}

impl Drop for HeldCalls {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// Opens `count` calls to `path` over one HTTP/2 connection to `addr`, each sending its
/// headers and never a message; returns how many the server answered at once, all
/// with RESOURCE_EXHAUSTED, and the others, held open.
async fn calls_without_messages(
    addr: &str,
    path: &str,
    count: usize,
    token: Option<&str>,
) -> (usize, HeldCalls) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let mut pending = Vec::new();
    for _ in 0..count {
        client = client.ready().await.unwrap();
        let mut request = http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let (response, body) = client
            .send_request(request.body(()).unwrap(), false)
            .unwrap();
        pending.push((response, body));
    }
    // Every call's answer, waited for at once: a refusal comes at once.
    let (responses, bodies): (Vec<_>, Vec<_>) = pending.into_iter().unzip();
    let answers = futures::future::join_all(
        responses
            .into_iter()
            .map(|response| tokio::time::timeout(Duration::from_millis(500), response)),
    )
    .await;
    let mut refused = 0;
    let mut held = Vec::new();
    for (answer, body) in answers.into_iter().zip(bodies) {
        match answer {
            Ok(Ok(response)) => {
                let status = response
                    .headers()
                    .get("grpc-status")
                    .map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(status.as_deref(), Some("8"), "{response:?}");
                refused += 1;
            }
            Ok(Err(err)) => panic!("the call failed: {err}"),
            Err(_) => held.push(body),
        }
    }
    let held = HeldCalls {
        _bodies: held,
        _client: client,
        connection: driver,
    };
    (refused, held)
}

/// 5 connections x 200 calls that send headers and never a message, from one peer:
/// before the quota they took all 1,000 call slots and every other caller got
/// UNAVAILABLE. Now the peer holds at most its quota (250) and the rest are refused
/// with RESOURCE_EXHAUSTED, while another caller is served.
#[tokio::test]
async fn one_peer_cannot_take_every_call_slot() {
    let server = TestServer::start().await;
    let addr = server.url().trim_start_matches("http://").to_owned();
    let mut refused = 0;
    let mut connections = Vec::new();
    for _ in 0..5 {
        let (n, held) =
            calls_without_messages(&addr, "/helloworld.Greeter/SayHello", 200, None).await;
        refused += n;
        connections.push(held);
    }
    let quota = Settings::default().max_calls_per_caller;
    assert_eq!(refused, 1000 - quota, "all but the quota refused");
    another_caller_is_served(&server.url(), None).await;
    drop(connections);
}

/// The same attack with auth on: a token allowed only SayHello cannot lock out a token
/// allowed everything.
#[tokio::test]
async fn one_token_cannot_take_every_call_slot() {
    const TOKENS: &str = r#"[
        {"name": "hello", "token": "hello-token-0123456789abcdef", "allow": ["helloworld.Greeter/SayHello"]},
        {"name": "admin", "token": "admin-token-fedcba9876543210", "allow": ["*"]}
    ]"#;
    let server = TestServer::with_settings(Settings {
        auth: Some(Arc::new(Tokens::parse(TOKENS).unwrap())),
        ..Settings::default()
    })
    .await;
    let addr = server.url().trim_start_matches("http://").to_owned();
    let mut refused = 0;
    let mut connections = Vec::new();
    for _ in 0..5 {
        let (n, held) = calls_without_messages(
            &addr,
            "/helloworld.Greeter/SayHello",
            200,
            Some("hello-token-0123456789abcdef"),
        )
        .await;
        refused += n;
        connections.push(held);
    }
    assert_eq!(refused, 1000 - Settings::default().max_calls_per_caller);
    another_caller_is_served(&server.url(), Some("admin-token-fedcba9876543210")).await;
    drop(connections);
}

/// A unary call whose message never comes ends with DEADLINE_EXCEEDED after the
/// first-message timeout, freeing its slot; a bidirectional stream may wait for its
/// first message.
#[tokio::test]
async fn a_call_without_its_message_ends_after_the_first_message_timeout() {
    let server = TestServer::with_settings(Settings {
        first_message_timeout: Duration::from_millis(500),
        ..Settings::default()
    })
    .await;
    let addr = server.url().trim_start_matches("http://").to_owned();
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let open = |path: &str| {
        let request = http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        client.clone().send_request(request, false).unwrap()
    };
    let (unary, _unary_body) = open("/helloworld.Greeter/SayHello");
    let (bidi, _bidi_body) = open("/feedback.FeedbackService/SendFeedback");
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(5), unary)
        .await
        .expect("the unary call ends")
        .unwrap();
    let elapsed = started.elapsed();
    let (head, mut body) = response.into_parts();
    let trailers = match head.headers.get("grpc-status") {
        Some(_) => head.headers,
        None => {
            while body.data().await.is_some() {}
            body.trailers().await.unwrap().expect("trailers")
        }
    };
    let status = tonic::Status::from_header_map(&trailers).expect("a grpc-status");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("--first-message-timeout"),
        "{status:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(400),
        "ended after {elapsed:?}"
    );
    // The bidirectional stream is still open, its response not even started.
    let waited = tokio::time::timeout(Duration::from_millis(1000), bidi).await;
    assert!(
        waited.is_err()
            || waited
                .unwrap()
                .unwrap()
                .headers()
                .get("grpc-status")
                .is_none(),
        "a bidirectional stream waiting for its first message is not ended"
    );
}

/// 40 StreamingOutputCall streams of one connection each ask, in a request of a few
/// hundred bytes, for 100 replies of 4 MB, and never read. Without the budget each
/// stream would hold two replies (320 MB in all); with it the server's growth stays
/// under its memory budget, and another caller's stream still gets its reply.
#[tokio::test]
async fn interop_payloads_never_read_hold_no_more_than_the_memory_budget() {
    let budget = 64 * MIB;
    let (server, before) = budgeted_server(8 * MIB, budget).await;
    let attacker = Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let big = |count| StreamingOutputCallRequest {
        response_parameters: vec![
            ResponseParameters {
                size: 4_000_000,
                ..ResponseParameters::default()
            };
            count
        ],
        ..StreamingOutputCallRequest::default()
    };
    let mut held = Vec::new();
    for _ in 0..40 {
        let replies = TestServiceClient::new(attacker.clone())
            .streaming_output_call(big(100))
            .await
            .expect("the stream starts");
        held.push(replies); // never read
    }
    assert_growth_under(&server, before, budget, 20).await;
    let mut replies = TestServiceClient::new(from_other_host(&server.url()).await)
        .streaming_output_call(big(1))
        .await
        .unwrap()
        .into_inner();
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.message())
        .await
        .expect("another caller's reply comes while the attack holds its budget")
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload.unwrap().body.len(), 4_000_000);
    drop(held);
}

/// HalfDuplexCall answers after the half-close, so it keeps what the requests ask for
/// until then: at most 100,000 reply descriptions, then RESOURCE_EXHAUSTED.
#[tokio::test]
async fn half_duplex_holds_a_bounded_number_of_replies() {
    let server = TestServer::start().await;
    let request = StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters::default(); 60_000],
        ..StreamingOutputCallRequest::default()
    };
    let mut replies = TestServiceClient::new(server.channel().await)
        .half_duplex_call(tokio_stream::iter(vec![request.clone(), request]))
        .await
        .expect("the stream starts")
        .into_inner();
    let status = replies.message().await.expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("100000"), "{status:?}");
}
