//! video.VideoProcessing's limits through a real client over a real socket: bad input
//! gets a precise status, a client that stops reading stops the server reading, a
//! client that cancels frees its stream.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{TestServer, bad_request_field, eventually, video::*};
use grpc_showcase::{
    domain::video::Limits,
    proto::video::{Encoding, ProcessFramesRequest},
    server::Settings,
};
use image::{DynamicImage, RgbImage};
use tokio_stream::StreamExt;
use tonic::Code;

/// A JPEG whose header announces `width` x `height`: the SOF0 fields of a real 8 x 8
/// JPEG, patched. Decoding it would need width x height x 3 bytes.
fn jpeg_announcing(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    DynamicImage::ImageRgb8(RgbImage::new(8, 8))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG has SOF0");
    // FF C0, length (2), precision (1), height (2), width (2).
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

/// Every kind of bad input ends the stream with its status code and a clear message,
/// after the replies to the frames before it.
#[tokio::test]
async fn bad_input_gets_a_precise_status_after_the_earlier_replies() {
    let server = TestServer::with_settings(Settings {
        frame_limits: Limits {
            max_pixels: 640 * 480,
            max_bytes: 1_000_000,
        },
        ..Settings::default()
    })
    .await;
    let mut client = client(server.channel().await);
    let good = || frame(0, 0, 0, Encoding::Jpeg, ROCKET_JPEG.to_vec());
    let invert = || config("invert", &[], Encoding::Unspecified);
    // (what, messages, code, field (INVALID_ARGUMENT), words in the message, replies first)
    type Case<'a> = (
        &'a str,
        Vec<ProcessFramesRequest>,
        Code,
        &'a str,
        &'a str,
        usize,
    );
    let cases: Vec<Case> = vec![
        (
            "a frame before the config",
            vec![good()],
            Code::InvalidArgument,
            "config",
            "must be its config",
            0,
        ),
        (
            "an unknown filter",
            vec![config("sepia", &[], Encoding::Unspecified), good()],
            Code::InvalidArgument,
            "config.filter",
            "unknown filter \"sepia\"",
            0,
        ),
        (
            "a parameter out of range",
            vec![config(
                "gaussian_blur",
                &[("sigma", 80.0)],
                Encoding::Unspecified,
            )],
            Code::InvalidArgument,
            "config.params",
            "gaussian_blur.sigma is 80; it must be 0.1 to 50",
            0,
        ),
        (
            "an unknown parameter",
            vec![config(
                "invert",
                &[("strength", 1.0)],
                Encoding::Unspecified,
            )],
            Code::InvalidArgument,
            "config.params",
            "no parameter \"strength\"",
            0,
        ),
        (
            "a resize over the pixel limit",
            vec![config(
                "resize",
                &[("width", 1000.0), ("height", 1000.0)],
                Encoding::Unspecified,
            )],
            Code::InvalidArgument,
            "config.params",
            "1000000 pixels",
            0,
        ),
        (
            "a second config",
            vec![invert(), good(), invert()],
            Code::InvalidArgument,
            "config",
            "one config",
            1,
        ),
        (
            "an unspecified encoding",
            vec![
                invert(),
                good(),
                frame(1, 4, 4, Encoding::Unspecified, vec![0; 16]),
            ],
            Code::InvalidArgument,
            "frame.encoding",
            "frame 1",
            1,
        ),
        (
            "undecodable bytes",
            vec![
                invert(),
                good(),
                frame(2, 0, 0, Encoding::Jpeg, b"GIF89a not a jpeg".to_vec()),
            ],
            Code::InvalidArgument,
            "frame.data",
            "frame 2: the frame cannot be decoded",
            1,
        ),
        (
            "a raw frame of the wrong length",
            vec![
                invert(),
                good(),
                good(),
                frame(3, 10, 10, Encoding::Rgb8, vec![0; 100]),
            ],
            Code::InvalidArgument,
            "frame.data",
            "100 bytes; width x height x channels is 300",
            2,
        ),
        (
            "zero dimensions",
            vec![invert(), frame(4, 0, 10, Encoding::Gray8, vec![])],
            Code::InvalidArgument,
            "frame.width",
            "zero width or height",
            0,
        ),
        (
            "a decompression bomb",
            vec![
                invert(),
                good(),
                frame(5, 0, 0, Encoding::Jpeg, jpeg_announcing(60_000, 60_000)),
            ],
            Code::ResourceExhausted,
            "",
            "3600000000 pixels; at most 307200",
            1,
        ),
        (
            "a raw frame over the pixel limit",
            vec![
                invert(),
                frame(6, 1000, 1000, Encoding::Gray8, vec![0; 1_000_000]),
            ],
            Code::ResourceExhausted,
            "",
            "1000000 pixels",
            0,
        ),
        (
            "a frame over the byte limit",
            vec![
                invert(),
                good(),
                frame(7, 0, 0, Encoding::Png, vec![0; 1_000_001]),
            ],
            Code::ResourceExhausted,
            "",
            "1000001 bytes; at most 1000000",
            1,
        ),
        (
            "a message over the message limit",
            vec![
                invert(),
                good(),
                frame(8, 0, 0, Encoding::Png, vec![0; 1_100_000]),
            ],
            Code::ResourceExhausted,
            "",
            "--max-frame-bytes",
            1,
        ),
    ];
    for (what, requests, code, field, words, replies_first) in cases {
        let (replies, status) = process(&mut client, requests).await;
        let status = status.expect_err(what);
        assert_eq!(status.code(), code, "{what}: {status:?}");
        assert!(status.message().contains(words), "{what}: {status:?}");
        if code == Code::InvalidArgument {
            assert_eq!(bad_request_field(&status), field, "{what}");
        }
        assert_eq!(
            replies.len(),
            replies_first,
            "{what}: the replies before the error"
        );
    }
    // The server is unharmed.
    let (replies, status) = process(&mut client, vec![invert(), good()]).await;
    status.unwrap();
    assert_eq!(replies.len(), 1);
}

/// A client that sends frames but does not read the replies soon cannot send either:
/// the server stops reading (HTTP/2 flow control), so it holds a bounded number of
/// frames, not all 200. Reading again resumes the stream with nothing lost.
#[tokio::test]
async fn a_client_that_stops_reading_stops_the_server_reading() {
    let server = TestServer::start().await;
    let mut client = client(server.channel().await);
    const FRAMES: usize = 200;
    let picture = Arc::new(RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([x as u8, y as u8, 0])
    }));
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let requests = tokio_stream::iter(0..=FRAMES).map(move |i| {
        if i == 0 {
            return config("invert", &[], Encoding::Rgb8);
        }
        counter.fetch_add(1, Ordering::SeqCst);
        rgb_frame(i as u64, &picture)
    });
    let mut replies = client.process_frames(requests).await.unwrap().into_inner();
    // Not reading: wait until the client can send no more (no frame taken for 1 s).
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = pulled.load(Ordering::SeqCst);
        if now == last || now == FRAMES {
            break;
        }
        last = now;
    }
    let taken = pulled.load(Ordering::SeqCst);
    println!("the client could send {taken} frames before the server stopped reading");
    // 640 x 480 RGB is 921,600 bytes: the HTTP/2 windows (1-2 MB each way), the
    // frames in processing and the client's and server's send buffers hold a
    // handful; 200 frames (184 MB) would mean no back-pressure.
    assert!(
        taken < 40,
        "the client could send {taken} of {FRAMES} frames"
    );
    let mut numbers = Vec::new();
    while let Some(reply) = replies.next().await {
        numbers.push(reply.unwrap().frame.unwrap().sequence_number);
    }
    assert_eq!(numbers, (1..=FRAMES as u64).collect::<Vec<_>>());
}

/// One gRPC message on the wire: uncompressed flag, 32-bit big-endian length, bytes.
fn grpc_message(message: &impl prost::Message) -> bytes::Bytes {
    let body = message.encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend(body);
    framed.into()
}

/// A client that cancels mid-stream frees the stream on the server. The client is h2
/// itself, so that the cancel is exactly what gRPC clients send (RST_STREAM with
/// CANCEL, request side still open): tonic's client sends it only for a call still
/// waiting for its response headers.
#[tokio::test]
async fn a_client_that_cancels_frees_the_stream() {
    let server = TestServer::start().await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (h2, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::post(format!(
        "http://{}/video.VideoProcessing/ProcessFrames",
        server.addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .unwrap();
    let (response, mut send) = h2
        .ready()
        .await
        .unwrap()
        .send_request(request, false)
        .unwrap();
    send.send_data(grpc_message(&config("edges", &[], Encoding::Png)), false)
        .unwrap();
    send.send_data(
        grpc_message(&frame(0, 0, 0, Encoding::Jpeg, ROCKET_JPEG.to_vec())),
        false,
    )
    .unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    // Read the first reply whole.
    let mut body = response.into_body();
    let mut received = Vec::new();
    while received.len() < 5
        || received.len() < 5 + u32::from_be_bytes(received[1..5].try_into().unwrap()) as usize
    {
        let chunk = body.data().await.expect("a reply").unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    assert_eq!(server.streams.count(), 1);
    send.send_reset(h2::Reason::CANCEL);
    eventually("the server frees the cancelled stream", || {
        server.streams.count() == 0
    })
    .await;
}
