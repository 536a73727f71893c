//! The limits a server that leaves localhost needs: calls per connection and in all,
//! HTTP/2 keepalive, a default timeout for unary calls without a deadline; and the
//! largest HTTP/2 frame it takes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::TestServer;
use grpc_showcase::{
    proto::helloworld::{HelloRequest, greeter_client::GreeterClient},
    server::Settings,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// An HTTP/2 connection made with the h2 crate, to see the server's settings and send
/// what tonic's client would not.
async fn h2_connect(server: &TestServer) -> h2::client::SendRequest<Bytes> {
    let socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (send, connection) = h2::client::handshake(socket).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send
}

/// A gRPC request's head for `path`.
fn grpc_request(server: &TestServer, path: &str) -> http::Request<()> {
    http::Request::post(format!("http://{}{path}", server.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// Sends `request` once the connection has room and waits for the response's head;
/// returns the connection, the head, and the sender of the request's body (kept open
/// unless `end_of_stream`).
async fn h2_call(
    send: h2::client::SendRequest<Bytes>,
    request: http::Request<()>,
    end_of_stream: bool,
) -> (
    h2::client::SendRequest<Bytes>,
    http::Response<h2::RecvStream>,
    h2::SendStream<Bytes>,
) {
    let mut send = send.ready().await.expect("the connection is open");
    let (response, body) = send.send_request(request, end_of_stream).unwrap();
    (send, response.await.unwrap(), body)
}

#[tokio::test]
async fn each_connection_is_told_its_limit_of_concurrent_calls() {
    let server = TestServer::with_settings(Settings {
        max_concurrent_streams: 3,
        ..Settings::default()
    })
    .await;
    // The server's SETTINGS arrive with the handshake; one round trip makes sure they
    // have been read.
    let connection = h2_connect(&server).await;
    let request = grpc_request(&server, "/grpc.health.v1.Health/Check");
    let (send, _, _) = h2_call(connection, request, true).await;
    assert_eq!(send.current_max_send_streams(), 3);
}

#[tokio::test]
async fn calls_over_the_overall_limit_get_unavailable() {
    let server = TestServer::with_settings(Settings {
        max_concurrent_requests: 2,
        ..Settings::default()
    })
    .await;
    // Two bidirectional streams, kept open: they hold both slots.
    let mut open = Vec::new();
    for _ in 0..2 {
        let (sender, receiver) = tokio::sync::mpsc::channel::<HelloRequest>(1);
        let mut client = GreeterClient::new(server.channel().await);
        let replies = client
            .say_hello_bidi_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .unwrap()
            .into_inner();
        open.push((sender, replies));
    }
    let mut greeter = GreeterClient::new(server.channel().await);
    let refused = greeter
        .say_hello(HelloRequest {
            name: "third".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable);
    assert!(
        refused.message().contains("--max-concurrent-requests"),
        "{refused:?}"
    );
    // Health checks are never refused.
    let health = HealthClient::new(server.channel().await)
        .check(HealthCheckRequest::default())
        .await;
    assert!(health.is_ok(), "{health:?}");

    // When one stream ends, its slot is free again.
    let (sender, mut replies) = open.pop().unwrap();
    drop(sender);
    while replies.message().await.unwrap().is_some() {}
    drop(replies);
    let mut served = false;
    for _ in 0..100 {
        if greeter
            .say_hello(HelloRequest {
                name: "fourth".into(),
            })
            .await
            .is_ok()
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a slot frees up when a stream ends");
}

#[tokio::test]
async fn unary_calls_without_a_deadline_end_at_the_default_timeout() {
    let server = TestServer::with_settings(Settings {
        default_unary_timeout: Some(Duration::from_millis(200)),
        greeting_interval: Duration::from_millis(50),
        ..Settings::default()
    })
    .await;
    // A client that sends its request's headers and never its message.
    let connection = h2_connect(&server).await;
    let request = grpc_request(&server, "/helloworld.Greeter/SayHello");
    let (_, response, _request_body) = h2_call(connection, request, false).await;
    let status = response
        .headers()
        .get("grpc-status")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(status, "4"); // DEADLINE_EXCEEDED
    let message = response
        .headers()
        .get("grpc-message")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(message.contains("--default-unary-timeout"), "{message}");

    // A stream is not limited: ten greetings 50 ms apart take longer than 200 ms.
    let mut stream = GreeterClient::new(server.channel().await)
        .say_hello_stream_reply(HelloRequest {
            name: "slow".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut replies = 0;
    while stream.message().await.unwrap().is_some() {
        replies += 1;
    }
    assert_eq!(replies, 10);

    // A client's own deadline wins over the default, longer or shorter.
    let mut request = tonic::Request::new(HelloRequest { name: "own".into() });
    request.set_timeout(Duration::from_secs(5));
    GreeterClient::new(server.channel().await)
        .say_hello(request)
        .await
        .unwrap();
}

/// Reads one HTTP/2 frame: (type, flags, payload); `None` at the end of the connection.
async fn read_frame(socket: &mut tokio::net::TcpStream) -> Option<(u8, u8, Vec<u8>)> {
    let mut head = [0u8; 9];
    socket.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload).await.ok()?;
    Some((head[3], head[4], payload))
}

/// A connection speaking HTTP/2 by hand: the client preface and empty settings sent.
async fn h2_by_hand(server: &TestServer) -> tokio::net::TcpStream {
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    socket
        .write_all(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    socket
}

const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

#[tokio::test]
async fn an_idle_client_that_does_not_answer_pings_is_disconnected() {
    let server = TestServer::with_settings(Settings {
        http2_keepalive_interval: Some(Duration::from_millis(100)),
        http2_keepalive_timeout: Duration::from_millis(100),
        ..Settings::default()
    })
    .await;
    // A client whose process hangs after the handshake: it speaks HTTP/2 by hand,
    // acknowledges the server's settings, then never answers anything.
    let mut socket = h2_by_hand(&server).await;
    let mut pinged = false;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some((kind, flags, _)) = read_frame(&mut socket).await {
            match kind {
                SETTINGS if flags & ACK == 0 => {
                    socket
                        .write_all(&[0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0])
                        .await
                        .unwrap();
                }
                PING if flags & ACK == 0 => pinged = true,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closes the connection");
    assert!(pinged, "the server pinged the idle connection");

    // A client that answers pings (h2 does, as every HTTP/2 library) keeps its
    // connection through many ping intervals: the same connection still takes calls.
    let connection = h2_connect(&server).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let request = grpc_request(&server, "/grpc.health.v1.Health/Check");
    let (_, response, _) = h2_call(connection, request, true).await;
    assert_eq!(response.status(), 200);
}

/// The server's first SETTINGS frame lets clients send DATA frames of up to 256 KiB
/// (SETTINGS_MAX_FRAME_SIZE, 0x5), so that a large message (a raw video frame, a
/// tensor) crosses in a few frames rather than one per 16 KiB.
#[tokio::test]
async fn large_messages_may_travel_in_frames_of_256_kibibytes() {
    let server = TestServer::start().await;
    let mut socket = h2_by_hand(&server).await;
    let (kind, flags, payload) = read_frame(&mut socket).await.unwrap();
    assert_eq!(
        (kind, flags & ACK),
        (SETTINGS, 0),
        "the server's settings come first"
    );
    let settings: Vec<(u16, u32)> = payload
        .chunks_exact(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        })
        .collect();
    const MAX_FRAME_SIZE: u16 = 0x5;
    assert!(
        settings.contains(&(MAX_FRAME_SIZE, 256 << 10)),
        "settings: {settings:?}"
    );
}
