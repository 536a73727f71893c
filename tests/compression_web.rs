//! The same response compression on Connect and grpc-web as on gRPC
//! (tests/compression.rs): a browser lists gzip in every request's Accept-Encoding and
//! gets plain replies; a compressed request gets compressed replies; JPEG frames stay
//! plain. Read on the wire, over HTTP/1.1 (tests/common's `http1`, as curl and
//! browsers send) and plain HTTP/2 for a bidirectional Connect stream.

mod common;

use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use common::{TestServer, http1, video::ROCKET_JPEG};
use grpc_showcase::proto::{
    echo::{EchoRequest, EchoResponse},
    video::{Encoding as FrameEncoding, ProcessFramesResponse},
};
use http_body_util::{BodyExt, Full};
use prost::Message;
use serde_json::{Value, json};

/// What a browser sends with every request.
const BROWSER_ACCEPT: (&str, &str) = ("accept-encoding", "gzip, deflate, br, zstd");

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Length-prefixed messages: (flags, payload).
fn split(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut found = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        found.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "a message cut short");
    found
}

fn prefixed(messages: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for (flags, payload) in messages {
        out.put_u8(*flags);
        out.put_u32(payload.len() as u32);
        out.put_slice(payload);
    }
    out.to_vec()
}

fn big_text() -> String {
    "the quick brown fox jumps over the lazy dog ".repeat(372)
}

#[tokio::test]
async fn connect_unary_replies_are_compressed_only_for_a_compressed_request() {
    let server = TestServer::start().await;
    let text = big_text();
    let body = json!({ "message": text }).to_string();
    let json_type = ("content-type", "application/json");
    let path = "/grpc.examples.echo.Echo/UnaryEcho";

    let plain = http1(
        server.addr,
        "POST",
        path,
        &[json_type, BROWSER_ACCEPT],
        body.as_bytes(),
    )
    .await;
    assert_eq!(plain.status, 200, "{plain:?}");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.json()["message"], json!(text));

    let headers = [json_type, BROWSER_ACCEPT, ("content-encoding", "gzip")];
    let compressed = http1(server.addr, "POST", path, &headers, &gzip(body.as_bytes())).await;
    assert_eq!(compressed.status, 200, "{compressed:?}");
    assert_eq!(compressed.header("content-encoding"), Some("gzip"));
    assert!(compressed.body.len() < text.len() / 10);
    let reply: Value = serde_json::from_slice(&gunzip(&compressed.body)).unwrap();
    assert_eq!(reply["message"], json!(text));

    // A small reply stays plain, even to a compressed request.
    let hello = gzip(br#"{"name": "Ada"}"#);
    let small = http1(
        server.addr,
        "POST",
        "/helloworld.Greeter/SayHello",
        &headers,
        &hello,
    )
    .await;
    assert_eq!(small.status, 200, "{small:?}");
    assert_eq!(small.header("content-encoding"), None);
    assert_eq!(small.json()["message"], json!("Hello, Ada!"));
}

#[tokio::test]
async fn connect_refuses_an_unsupported_encoding_naming_the_supported_ones() {
    let server = TestServer::start().await;
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "br"),
    ];
    let reply = http1(
        server.addr,
        "POST",
        "/helloworld.Greeter/SayHello",
        &headers,
        b"xx",
    )
    .await;
    assert_eq!(reply.json()["code"], json!("unimplemented"), "{reply:?}");
    let accept = reply.header("accept-encoding").unwrap_or_default();
    assert!(
        accept.contains("gzip") && accept.contains("zstd"),
        "{reply:?}"
    );
}

/// A bidirectional Connect stream (protobuf envelopes over HTTP/2), gzip both ways:
/// every request envelope compressed, the raw frame's reply compressed, the JPEG
/// frames' replies plain, message by message.
#[tokio::test]
async fn connect_stream_envelopes_are_compressed_one_by_one() {
    use common::video::{config, frame};
    let server = TestServer::start().await;
    let gray: Vec<u8> = (0..320 * 240).map(|i| ((i % 320) / 2) as u8).collect();
    let requests: Vec<(u8, Vec<u8>)> = [
        config("invert", &[], FrameEncoding::Unspecified),
        frame(1, 0, 0, FrameEncoding::Jpeg, ROCKET_JPEG.to_vec()),
        frame(2, 320, 240, FrameEncoding::Gray8, gray.clone()),
    ]
    .iter()
    .map(|m| (1, gzip(&m.encode_to_vec())))
    .collect();
    let (client, origin) = server.plain_client();
    let request = http::Request::post(format!("{origin}video.VideoProcessing/ProcessFrames"))
        .header("content-type", "application/connect+proto")
        .header("connect-content-encoding", "gzip")
        .header("connect-accept-encoding", "gzip")
        .body(tonic::body::Body::new(Full::new(Bytes::from(prefixed(
            &requests,
        )))))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.headers()["connect-content-encoding"], "gzip");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let envelopes = split(&body);
    let flags: Vec<u8> = envelopes.iter().map(|(flags, _)| *flags).collect();
    // The JPEG reply, the raw reply, then the end of the stream.
    assert_eq!(
        flags,
        [0, 1, 2],
        "{:?}",
        String::from_utf8_lossy(&envelopes.last().unwrap().1)
    );
    let raw = ProcessFramesResponse::decode(&gunzip(&envelopes[1].1)[..]).unwrap();
    let data = raw.frame.unwrap().data;
    assert!(data.iter().zip(&gray).all(|(o, px)| *o == 255 - px));
}

#[tokio::test]
async fn grpc_web_replies_are_compressed_only_for_a_compressed_request() {
    let server = TestServer::start().await;
    let text = big_text();
    let message = EchoRequest {
        message: text.clone(),
    }
    .encode_to_vec();
    let web = [
        ("content-type", "application/grpc-web+proto"),
        ("x-grpc-web", "1"),
        ("grpc-accept-encoding", "identity, deflate, gzip"),
    ];
    let path = "/grpc.examples.echo.Echo/UnaryEcho";
    let plain = http1(
        server.addr,
        "POST",
        path,
        &web,
        &prefixed(&[(0, message.clone())]),
    )
    .await;
    assert_eq!(plain.status, 200, "{plain:?}");
    let messages = split(&plain.body);
    assert_eq!(messages[0].0, 0, "{plain:?}");
    assert_eq!(
        EchoResponse::decode(&messages[0].1[..]).unwrap().message,
        text
    );

    let mut headers = web.to_vec();
    headers.push(("grpc-encoding", "gzip"));
    let body = prefixed(&[(1, gzip(&message))]);
    let compressed = http1(server.addr, "POST", path, &headers, &body).await;
    assert_eq!(compressed.status, 200, "{compressed:?}");
    assert_eq!(compressed.header("grpc-encoding"), Some("gzip"));
    let messages = split(&compressed.body);
    assert_eq!(messages[0].0, 1, "{compressed:?}");
    let reply = EchoResponse::decode(&gunzip(&messages[0].1)[..]).unwrap();
    assert_eq!(reply.message, text);
    // The trailers block (flag 0x80) is never compressed.
    assert_eq!(messages.last().unwrap().0, 0x80);
}
