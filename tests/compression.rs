//! Response compression (`--response-compression`) as real clients meet it, read on the
//! wire: each reply message's compressed flag, through a plain HTTP/2 client that sends
//! the headers grpcio sends on every call. A client that can decode gzip is not asking
//! for it; a client that compresses its request gets replies in the same encoding.

mod common;

use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use common::{TestServer, video::ROCKET_JPEG};
use grpc_showcase::{
    proto::{
        echo::{EchoRequest, EchoResponse},
        helloworld::{HelloRequest, greeter_client::GreeterClient},
        video::Encoding as FrameEncoding,
    },
    server::{ResponseCompression, Settings},
};
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use prost::Message;
use tonic::{Code, codec::CompressionEncoding};

/// What grpcio 1.85 (C-core) sends on every call, whatever the application asked for.
const GRPCIO: [(&str, &str); 2] = [
    ("grpc-accept-encoding", "identity, deflate, gzip"),
    (
        "user-agent",
        "grpc-python/1.85.4 grpc-c/58.0.0 (linux; chttp2)",
    ),
];

/// `data` compressed in `encoding` (gzip, deflate or zstd), with the libraries
/// themselves.
fn compress(encoding: &str, data: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::stream::encode_all(data, 1).unwrap(),
        other => panic!("no encoding {other}"),
    }
}

fn decompress(encoding: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap(),
        "deflate" => flate2::read::ZlibDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap(),
        "zstd" => zstd::stream::read::Decoder::new(data)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap(),
        other => panic!("no encoding {other}"),
    };
    out
}

/// One length-prefixed message as it travelled: its compressed flag and its bytes.
#[derive(Debug)]
struct WireMessage {
    compressed: bool,
    bytes: Vec<u8>,
}

/// Splits a body of length-prefixed messages (gRPC's, grpc-web's and Connect's).
fn wire_messages(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut messages = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        messages.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "a message cut short");
    messages
}

/// A call's response: its headers, its messages as on the wire, its status.
struct Reply {
    headers: HeaderMap,
    messages: Vec<WireMessage>,
    status: tonic::Status,
}

impl Reply {
    /// The response's `grpc-encoding`.
    fn encoding(&self) -> Option<&str> {
        self.headers
            .get("grpc-encoding")
            .map(|v| v.to_str().unwrap())
    }

    /// Each message's flag, in order.
    fn flags(&self) -> Vec<bool> {
        self.messages.iter().map(|m| m.compressed).collect()
    }

    /// Message `i` decoded as `M`, decompressed first when its flag says so.
    fn message<M: Message + Default>(&self, i: usize) -> M {
        let message = &self.messages[i];
        let bytes = if message.compressed {
            decompress(self.encoding().expect("a grpc-encoding"), &message.bytes)
        } else {
            message.bytes.clone()
        };
        M::decode(&bytes[..]).unwrap()
    }
}

/// Calls `path` over plain HTTP/2 with `messages`, each compressed in `encoding` when
/// one is given, and `headers`.
async fn call(
    server: &TestServer,
    path: &str,
    messages: &[Vec<u8>],
    encoding: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let (client, origin) = server.plain_client();
    let mut body = BytesMut::new();
    for message in messages {
        let (flag, bytes) = match encoding {
            Some(encoding) => (1, compress(encoding, message)),
            None => (0, message.clone()),
        };
        body.put_u8(flag);
        body.put_u32(bytes.len() as u32);
        body.put_slice(&bytes);
    }
    let mut request = http::Request::post(format!("{origin}{}", path.trim_start_matches('/')))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(encoding) = encoding {
        request = request.header("grpc-encoding", encoding);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(tonic::body::Body::new(Full::new(body.freeze())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let (head, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected
        .trailers()
        .cloned()
        .unwrap_or(head.headers.clone());
    let bytes: Bytes = collected.to_bytes();
    Reply {
        headers: head.headers,
        messages: wire_messages(&bytes)
            .into_iter()
            .map(|(flag, bytes)| WireMessage {
                compressed: flag & 1 == 1,
                bytes,
            })
            .collect(),
        status: tonic::Status::from_header_map(&trailers).expect("a grpc-status"),
    }
}

/// An EchoRequest that compresses well: 16 KiB of text.
fn big_echo() -> (Vec<u8>, String) {
    let text = "the quick brown fox jumps over the lazy dog ".repeat(372);
    let request = EchoRequest {
        message: text.clone(),
    };
    (request.encode_to_vec(), text)
}

const UNARY_ECHO: &str = "/grpc.examples.echo.Echo/UnaryEcho";
const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";

#[tokio::test]
async fn a_client_that_lists_gzip_but_does_not_compress_gets_plain_replies() {
    let server = TestServer::start().await;
    let (request, text) = big_echo();
    let reply = call(&server, UNARY_ECHO, &[request], None, &GRPCIO).await;
    assert_eq!(reply.status.code(), Code::Ok, "{:?}", reply.status);
    assert_eq!(reply.flags(), [false]);
    assert_eq!(reply.encoding(), None);
    assert_eq!(reply.message::<EchoResponse>(0).message, text);
}

#[tokio::test]
async fn a_compressed_request_gets_replies_in_its_encoding() {
    let server = TestServer::start().await;
    let (request, text) = big_echo();
    for encoding in ["gzip", "deflate", "zstd"] {
        let accept = [("grpc-accept-encoding", "identity,gzip,deflate,zstd")];
        let reply = call(
            &server,
            UNARY_ECHO,
            std::slice::from_ref(&request),
            Some(encoding),
            &accept,
        )
        .await;
        assert_eq!(
            reply.status.code(),
            Code::Ok,
            "{encoding}: {:?}",
            reply.status
        );
        assert_eq!(reply.encoding(), Some(encoding));
        assert_eq!(reply.flags(), [true], "{encoding}");
        assert!(
            reply.messages[0].bytes.len() < text.len() / 10,
            "{encoding}"
        );
        assert_eq!(reply.message::<EchoResponse>(0).message, text, "{encoding}");

        // A reply under 1 KiB stays plain, even to a compressed request.
        let hello = HelloRequest { name: "Ada".into() }.encode_to_vec();
        let reply = call(&server, SAY_HELLO, &[hello], Some(encoding), &accept).await;
        assert_eq!(reply.status.code(), Code::Ok, "{:?}", reply.status);
        assert_eq!(reply.flags(), [false], "{encoding}");
    }
    // Never in an encoding the client did not say it accepts.
    let reply = call(&server, UNARY_ECHO, &[request], Some("zstd"), &GRPCIO).await;
    assert_eq!(reply.status.code(), Code::Ok, "{:?}", reply.status);
    assert_eq!((reply.encoding(), reply.flags()), (None, vec![false]));
}

#[tokio::test]
async fn the_gzip_policy_compresses_large_replies_and_leaves_small_ones_plain() {
    let server = TestServer::with_settings(Settings {
        response_compression: ResponseCompression::Gzip,
        ..Settings::default()
    })
    .await;
    let (request, text) = big_echo();
    let reply = call(
        &server,
        UNARY_ECHO,
        std::slice::from_ref(&request),
        None,
        &GRPCIO,
    )
    .await;
    assert_eq!(reply.encoding(), Some("gzip"));
    assert_eq!(reply.flags(), [true]);
    assert_eq!(reply.message::<EchoResponse>(0).message, text);
    let hello = HelloRequest { name: "Ada".into() }.encode_to_vec();
    let reply = call(&server, SAY_HELLO, &[hello], None, &GRPCIO).await;
    assert_eq!(reply.status.code(), Code::Ok, "{:?}", reply.status);
    assert_eq!(reply.flags(), [false]);
    // A client that accepts no gzip gets none.
    let reply = call(&server, UNARY_ECHO, &[request], None, &[]).await;
    assert_eq!((reply.encoding(), reply.flags()), (None, vec![false]));
}

#[tokio::test]
async fn the_off_policy_compresses_nothing() {
    let server = TestServer::with_settings(Settings {
        response_compression: ResponseCompression::Off,
        ..Settings::default()
    })
    .await;
    let (request, text) = big_echo();
    let reply = call(&server, UNARY_ECHO, &[request], Some("gzip"), &GRPCIO).await;
    assert_eq!((reply.encoding(), reply.flags()), (None, vec![false]));
    assert_eq!(reply.message::<EchoResponse>(0).message, text);
}

/// One stream, message by message: a JPEG frame's reply is never compressed (it is
/// compressed already), a raw frame's is, under a policy that compresses.
#[tokio::test]
async fn jpeg_frames_stay_plain_and_raw_frames_are_compressed_on_one_stream() {
    use common::video::{config, frame};
    let server = TestServer::start().await;
    let gray: Vec<u8> = (0..320 * 240).map(|i| ((i % 320) / 2) as u8).collect();
    let messages: Vec<Vec<u8>> = [
        config("invert", &[], FrameEncoding::Unspecified),
        frame(1, 0, 0, FrameEncoding::Jpeg, ROCKET_JPEG.to_vec()),
        frame(2, 320, 240, FrameEncoding::Gray8, gray.clone()),
        frame(3, 0, 0, FrameEncoding::Jpeg, ROCKET_JPEG.to_vec()),
    ]
    .iter()
    .map(Message::encode_to_vec)
    .collect();
    let path = "/video.VideoProcessing/ProcessFrames";
    let reply = call(&server, path, &messages, Some("gzip"), &GRPCIO).await;
    assert_eq!(reply.status.code(), Code::Ok, "{:?}", reply.status);
    assert_eq!(reply.encoding(), Some("gzip"));
    assert_eq!(reply.flags(), [false, true, false]);
    let raw: grpc_showcase::proto::video::ProcessFramesResponse = reply.message(1);
    let out = raw.frame.unwrap();
    assert_eq!(out.sequence_number, 2);
    assert!(out.data.iter().zip(&gray).all(|(o, px)| *o == 255 - px));
}

#[tokio::test]
async fn an_unsupported_encoding_is_unimplemented_naming_the_supported_ones() {
    let server = TestServer::start().await;
    let (client, origin) = server.plain_client();
    let request = http::Request::post(format!("{origin}helloworld.Greeter/SayHello"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-encoding", "br")
        .body(tonic::body::Body::new(Full::new(Bytes::from_static(
            b"\x01\x00\x00\x00\x02ab",
        ))))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let headers = response.headers().clone();
    let status = tonic::Status::from_header_map(&headers).expect("trailers-only");
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("br"), "{status:?}");
    let accept = headers["grpc-accept-encoding"].to_str().unwrap();
    for encoding in ["gzip", "zstd", "deflate"] {
        assert!(accept.contains(encoding), "{accept}");
    }
}

/// tonic's own client, compressing both ways, decodes what the server sends.
#[tokio::test]
async fn tonic_clients_that_compress_get_compressed_replies() {
    let server = TestServer::start().await;
    for (encoding, name) in [
        (CompressionEncoding::Gzip, "gzip"),
        (CompressionEncoding::Zstd, "zstd"),
    ] {
        let mut client = GreeterClient::new(server.channel().await)
            .send_compressed(encoding)
            .accept_compressed(encoding);
        let response = client
            .say_hello(HelloRequest { name: "Ada".into() })
            .await
            .unwrap_or_else(|status| panic!("{name}: {status:?}"));
        assert_eq!(
            response
                .metadata()
                .get("grpc-encoding")
                .unwrap()
                .to_str()
                .unwrap(),
            name
        );
        assert_eq!(response.into_inner().message, "Hello, Ada!");
    }
}

/// A small compressed message that would decompress past the server's limit (a
/// "zip bomb": 8 MiB of zeros, a few kilobytes compressed) is refused with
/// RESOURCE_EXHAUSTED while decompressing, never held whole in memory.
#[tokio::test]
async fn a_compressed_message_over_the_limit_once_decompressed_is_refused() {
    let server = TestServer::start().await;
    for (encoding, name) in [
        (CompressionEncoding::Gzip, "gzip"),
        (CompressionEncoding::Zstd, "zstd"),
        (CompressionEncoding::Deflate, "deflate"),
    ] {
        let mut client = GreeterClient::new(server.channel().await).send_compressed(encoding);
        let status = client
            .say_hello(HelloRequest {
                name: "\0".repeat(8 * 1024 * 1024),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{name}: {status:?}");
        assert!(
            status.message().contains("decompressing"),
            "{name}: {status:?}"
        );
    }
}
