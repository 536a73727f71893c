//! Framing errors get the answers of the gRPC status code table (grpc/grpc's
//! doc/statuscodes.md), through a plain HTTP/2 client that can send what generated
//! clients never do: a request cardinality violation (a unary or server-streaming call
//! with no request message, or two) is UNIMPLEMENTED; a request message that does not
//! parse is INTERNAL ("Error parsing request proto"); a content type that no protocol on
//! the port takes is HTTP 415, as gRPC's PROTOCOL-HTTP2.md asks.

mod common;

use bytes::{BufMut, BytesMut};
use common::TestServer;
use http_body_util::{BodyExt, Full};

/// Sends `messages` (raw protobuf bytes, each framed) to `path`; the call's grpc-status
/// and grpc-message, from the trailers (or the headers of a trailers-only answer).
async fn call(server: &TestServer, path: &str, messages: &[&[u8]]) -> (String, String) {
    call_with(server, path, messages, &[]).await
}

/// [`call`] with extra request headers.
async fn call_with(
    server: &TestServer,
    path: &str,
    messages: &[&[u8]],
    headers: &[(&str, &str)],
) -> (String, String) {
    let (client, origin) = server.plain_client();
    let mut body = BytesMut::new();
    for message in messages {
        body.put_u8(0);
        body.put_u32(message.len() as u32);
        body.put_slice(message);
    }
    let mut request = http::Request::post(format!("{origin}{}", path.trim_start_matches('/')))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(tonic::body::Body::new(Full::new(body.freeze())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let (head, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or(head.headers);
    let status = tonic::Status::from_header_map(&trailers).expect("a grpc-status");
    (
        (status.code() as i32).to_string(),
        status.message().to_owned(),
    )
}

#[tokio::test]
async fn single_request_methods_take_exactly_one_message() {
    let server = TestServer::start().await;
    // HelloRequest { name: "Ada" }: field 1, length 3.
    let hello: &[u8] = b"\x0a\x03Ada";
    let (status, _) = call(&server, "/helloworld.Greeter/SayHello", &[hello]).await;
    assert_eq!(status, "0");

    let (status, message) = call(&server, "/helloworld.Greeter/SayHello", &[]).await;
    assert_eq!(status, "12", "{message}");
    assert!(message.contains("exactly one request message"), "{message}");
    let (status, message) = call(&server, "/helloworld.Greeter/SayHello", &[hello, hello]).await;
    assert_eq!(status, "12", "{message}");
    assert!(message.contains("a second one came"), "{message}");
    // A server stream takes one request too.
    let path = "/helloworld.Greeter/SayHelloStreamReply";
    let (status, _) = call(&server, path, &[hello, hello]).await;
    assert_eq!(status, "12");
    // A client stream takes any number, none included.
    let (status, message) = call(&server, "/calculator.Calculator/Average", &[]).await;
    assert_ne!(status, "12", "{message}");
}

#[tokio::test]
async fn a_malformed_grpc_timeout_is_internal_naming_the_header() {
    let server = TestServer::start().await;
    let hello: &[u8] = b"\x0a\x03Ada";
    let timeout = [("grpc-timeout", "1x")];
    let (status, message) =
        call_with(&server, "/helloworld.Greeter/SayHello", &[hello], &timeout).await;
    assert_eq!(status, "13", "{message}");
    assert!(message.contains("malformed grpc-timeout"), "{message}");
}

#[tokio::test]
async fn a_message_that_does_not_parse_is_internal() {
    let server = TestServer::start().await;
    // Field 1 announced as 10 bytes long, with 2 bytes there.
    let (status, message) = call(&server, "/helloworld.Greeter/SayHello", &[b"\x0a\x0aAd"]).await;
    assert_eq!(status, "13", "{message}");
    // tonic's message names the message type and the field that failed.
    assert!(message.contains("HelloRequest.name"), "{message}");
}

#[tokio::test]
async fn a_content_type_no_protocol_here_handles_is_415() {
    let server = TestServer::start().await;
    let path = "/helloworld.Greeter/SayHello";
    let plain = [("content-type", "text/plain")];
    let reply = common::http1(server.addr, "POST", path, &plain, b"hi").await;
    assert_eq!(reply.status, 415, "{reply:?}");
    assert!(String::from_utf8_lossy(&reply.body).contains("application/grpc"));
    // Over HTTP/2 as well, where a gRPC client would be.
    let (client, origin) = server.plain_client();
    let request = http::Request::post(format!("{origin}helloworld.Greeter/SayHello"))
        .header("content-type", "text/plain")
        .body(tonic::body::Body::new(Full::new(
            bytes::Bytes::from_static(b"hi"),
        )))
        .unwrap();
    assert_eq!(client.request(request).await.unwrap().status(), 415);
    // Another method than POST is no call at all.
    let reply = common::http1(server.addr, "GET", "/no/such/page", &[], b"").await;
    assert_eq!(reply.status, 404);
}
