//! gzip and zstd message compression (`grpc-encoding`) through real clients.

mod common;

use common::TestServer;
use grpc_showcase::proto::{
    helloworld::{HelloRequest, greeter_client::GreeterClient},
    video::{
        Encoding, Frame, ProcessFramesRequest, StreamConfig, process_frames_request::Message,
        video_processing_client::VideoProcessingClient,
    },
};
use tonic::{Code, codec::CompressionEncoding};

const ENCODINGS: [(CompressionEncoding, &str); 2] = [
    (CompressionEncoding::Gzip, "gzip"),
    (CompressionEncoding::Zstd, "zstd"),
];

/// How the server says it compressed a reply: its `grpc-encoding` header.
fn reply_encoding(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    metadata
        .get("grpc-encoding")
        .map(|value| value.to_str().unwrap())
}

/// A client that compresses its requests and accepts compressed responses gets them:
/// the server decompressed the request (or it would answer UNIMPLEMENTED) and says in
/// `grpc-encoding` how it compressed the reply.
#[tokio::test]
async fn unary_calls_are_compressed_both_ways() {
    let server = TestServer::start().await;
    for (encoding, name) in ENCODINGS {
        let mut client = GreeterClient::new(server.channel().await)
            .send_compressed(encoding)
            .accept_compressed(encoding);
        let response = client
            .say_hello(HelloRequest { name: "Ada".into() })
            .await
            .unwrap_or_else(|status| panic!("{name}: {status:?}"));
        assert_eq!(reply_encoding(response.metadata()), Some(name));
        assert_eq!(response.into_inner().message, "Hello, Ada!");
    }
    // A client that asks for nothing gets plain messages.
    let response = GreeterClient::new(server.channel().await)
        .say_hello(HelloRequest { name: "Ada".into() })
        .await
        .unwrap();
    assert_eq!(reply_encoding(response.metadata()), None);
}

/// Streams too: raw video frames compress well, and the processed ones come back
/// compressed and correct.
#[tokio::test]
async fn streamed_frames_are_compressed_both_ways() {
    let server = TestServer::start().await;
    let gray: Vec<u8> = (0..640 * 480).map(|i| ((i % 640) / 3) as u8).collect();
    for (encoding, name) in ENCODINGS {
        let mut client = VideoProcessingClient::new(server.channel().await)
            .send_compressed(encoding)
            .accept_compressed(encoding);
        let requests = vec![
            ProcessFramesRequest {
                message: Some(Message::Config(StreamConfig {
                    filter: "invert".into(),
                    ..StreamConfig::default()
                })),
            },
            ProcessFramesRequest {
                message: Some(Message::Frame(Frame {
                    sequence_number: 1,
                    width: 640,
                    height: 480,
                    encoding: Encoding::Gray8.into(),
                    data: gray.clone(),
                    ..Frame::default()
                })),
            },
        ];
        let response = client
            .process_frames(tokio_stream::iter(requests))
            .await
            .unwrap_or_else(|status| panic!("{name}: {status:?}"));
        assert_eq!(reply_encoding(response.metadata()), Some(name));
        let mut replies = response.into_inner();
        let frame = replies.message().await.unwrap().unwrap().frame.unwrap();
        assert!(
            frame
                .data
                .iter()
                .zip(&gray)
                .all(|(out, px)| *out == 255 - px)
        );
        assert!(replies.message().await.unwrap().is_none());
    }
}

/// A small compressed message that would decompress past the server's limit (a
/// "zip bomb": 8 MiB of zeros, a few kilobytes compressed) is refused with
/// RESOURCE_EXHAUSTED while decompressing, never held whole in memory.
#[tokio::test]
async fn a_compressed_message_over_the_limit_once_decompressed_is_refused() {
    let server = TestServer::start().await;
    for (encoding, name) in ENCODINGS {
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
