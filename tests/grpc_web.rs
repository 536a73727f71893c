//! grpc-web over HTTP/1.1, as a browser sends it, and CORS for pages of other origins.

mod common;

use common::{TestServer, http1};
use grpc_showcase::{
    proto::helloworld::{HelloReply, HelloRequest},
    server::Settings,
};
use prost::Message;

const ORIGIN: &str = "https://app.example.com";

/// A grpc-web request body: one uncompressed message frame.
fn frame(message: &impl Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&bytes);
    body
}

/// The frames of a grpc-web response body: messages (flag 0x00) and the trailers
/// block (flag 0x80) as text.
fn frames(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let (mut messages, mut trailers) = (Vec::new(), String::new());
    while !body.is_empty() {
        let flag = body[0];
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        let payload = &body[5..5 + len];
        if flag & 0x80 != 0 {
            trailers.push_str(std::str::from_utf8(payload).unwrap());
        } else {
            messages.push(payload.to_vec());
        }
        body = &body[5 + len..];
    }
    (messages, trailers)
}

async fn say_hello_web(server: &TestServer, name: &str, origin: Option<&str>) -> common::HttpReply {
    let mut headers = vec![
        ("Content-Type", "application/grpc-web+proto"),
        ("X-Grpc-Web", "1"),
        ("Accept", "application/grpc-web+proto"),
    ];
    if let Some(origin) = origin {
        headers.push(("Origin", origin));
    }
    http1(
        server.addr,
        "POST",
        "/helloworld.Greeter/SayHello",
        &headers,
        &frame(&HelloRequest { name: name.into() }),
    )
    .await
}

#[tokio::test]
async fn a_unary_call_over_http1_grpc_web() {
    let server = TestServer::start().await;
    let reply = say_hello_web(&server, "Browser", None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/grpc-web+proto")
    );
    let (messages, trailers) = frames(&reply.body);
    assert_eq!(messages.len(), 1, "{reply:?}");
    let hello = HelloReply::decode(&messages[0][..]).unwrap();
    assert!(hello.message.contains("Browser"), "{hello:?}");
    assert!(trailers.contains("grpc-status:0"), "{trailers:?}");

    // An error travels as a status too (trailers-only: in the headers).
    let error = say_hello_web(&server, "", None).await;
    assert_eq!(error.status, 200);
    let status = error.header("grpc-status").map(str::to_owned).or_else(|| {
        let (_, trailers) = frames(&error.body);
        trailers
            .lines()
            .find_map(|l| l.strip_prefix("grpc-status:").map(|s| s.trim().to_owned()))
    });
    assert_eq!(status.as_deref(), Some("3"), "{error:?}"); // INVALID_ARGUMENT
}

#[tokio::test]
async fn cors_lets_only_the_configured_origins_in() {
    let server = TestServer::with_settings(Settings {
        cors_allowed_origins: vec![ORIGIN.to_owned()],
        ..Settings::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        let addr = server.addr;
        async move {
            http1(
                addr,
                "OPTIONS",
                "/helloworld.Greeter/SayHello",
                &[
                    ("Origin", origin),
                    ("Access-Control-Request-Method", "POST"),
                    (
                        "Access-Control-Request-Headers",
                        "content-type,x-grpc-web,authorization",
                    ),
                ],
                b"",
            )
            .await
        }
    };
    let allowed = preflight(ORIGIN).await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.header("access-control-allow-origin"), Some(ORIGIN));
    let allowed_headers = allowed.header("access-control-allow-headers").unwrap();
    assert!(allowed_headers.contains("x-grpc-web") && allowed_headers.contains("authorization"));

    let other = preflight("https://evil.example").await;
    assert_eq!(
        other.header("access-control-allow-origin"),
        None,
        "{other:?}"
    );

    // The call itself: the browser may read the status because it is exposed.
    let call = say_hello_web(&server, "Page", Some(ORIGIN)).await;
    assert_eq!(call.status, 200);
    assert_eq!(call.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(
        call.header("access-control-expose-headers")
            .unwrap()
            .contains("grpc-status")
    );

    // The REST gateway gets the same CORS headers.
    let gateway = http1(
        server.addr,
        "POST",
        "/api/FraudActivity",
        &[("Origin", ORIGIN), ("Content-Type", "application/json")],
        common::TRANSACTION_JSON.as_bytes(),
    )
    .await;
    assert_eq!(gateway.status, 200);
    assert_eq!(gateway.header("access-control-allow-origin"), Some(ORIGIN));
}

#[tokio::test]
async fn without_cors_origins_no_cors_headers_are_sent() {
    let server = TestServer::start().await;
    let call = say_hello_web(&server, "Page", Some(ORIGIN)).await;
    assert_eq!(call.status, 200);
    assert_eq!(call.header("access-control-allow-origin"), None);
}
