//! video.VideoProcessing through a real client over a real socket.
//!
//! The frame is a real photo: tests/fixtures/rocket.jpg (see make_fixtures.sh there).

mod common;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{TestServer, bad_request_field, eventually};
use grpc_showcase::{
    domain::video::Limits,
    proto::video::{
        Encoding, Frame, ListFiltersRequest, ProcessFramesRequest, ProcessFramesResponse,
        StreamConfig, process_frames_request::Message,
        video_processing_client::VideoProcessingClient,
    },
    server::Settings,
};
use image::{DynamicImage, GrayImage, RgbImage};
use tokio_stream::StreamExt;
use tonic::{Code, Status, transport::Channel};

const ROCKET_JPEG: &[u8] = include_bytes!("fixtures/rocket.jpg");
/// A client limit that takes any frame the default server limits allow.
const CLIENT_LIMIT: usize = 64 * 1024 * 1024;

fn client(channel: Channel) -> VideoProcessingClient<Channel> {
    VideoProcessingClient::new(channel)
        .max_decoding_message_size(CLIENT_LIMIT)
        .max_encoding_message_size(CLIENT_LIMIT)
}

fn config(filter: &str, params: &[(&str, f64)], output: Encoding) -> ProcessFramesRequest {
    ProcessFramesRequest {
        message: Some(Message::Config(StreamConfig {
            filter: filter.to_owned(),
            params: params.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            output_encoding: output.into(),
            jpeg_quality: 0,
        })),
    }
}

fn frame(
    sequence_number: u64,
    width: u32,
    height: u32,
    encoding: Encoding,
    data: Vec<u8>,
) -> ProcessFramesRequest {
    ProcessFramesRequest {
        message: Some(Message::Frame(Frame {
            sequence_number,
            presentation_timestamp_us: sequence_number * 40_000,
            width,
            height,
            encoding: encoding.into(),
            data,
        })),
    }
}

fn rgb_frame(sequence_number: u64, picture: &RgbImage) -> ProcessFramesRequest {
    frame(
        sequence_number,
        picture.width(),
        picture.height(),
        Encoding::Rgb8,
        picture.as_raw().clone(),
    )
}

fn rocket() -> RgbImage {
    image::load_from_memory(ROCKET_JPEG).unwrap().to_rgb8()
}

/// Sends `requests` as one stream; the replies, then the status that ended the stream.
async fn process(
    client: &mut VideoProcessingClient<Channel>,
    requests: Vec<ProcessFramesRequest>,
) -> (Vec<ProcessFramesResponse>, Result<(), Status>) {
    let mut replies = Vec::new();
    let mut stream = match client.process_frames(tokio_stream::iter(requests)).await {
        Ok(response) => response.into_inner(),
        Err(status) => return (replies, Err(status)),
    };
    loop {
        match stream.next().await {
            Some(Ok(reply)) => replies.push(reply),
            Some(Err(status)) => return (replies, Err(status)),
            None => return (replies, Ok(())),
        }
    }
}

/// The picture a reply carries, decoded by the image crate.
fn picture(reply: &ProcessFramesResponse) -> DynamicImage {
    let frame = reply.frame.as_ref().unwrap();
    match frame.encoding() {
        Encoding::Gray8 => DynamicImage::ImageLuma8(
            GrayImage::from_raw(frame.width, frame.height, frame.data.clone()).unwrap(),
        ),
        Encoding::Rgb8 => DynamicImage::ImageRgb8(
            RgbImage::from_raw(frame.width, frame.height, frame.data.clone()).unwrap(),
        ),
        Encoding::Png | Encoding::Jpeg => image::load_from_memory(&frame.data).unwrap(),
        Encoding::Unspecified => panic!("a reply without an encoding"),
    }
}

#[tokio::test]
async fn list_filters_gives_every_filter_with_ranges_and_defaults() {
    let server = TestServer::start().await;
    let mut client = client(server.channel().await);
    let list = client
        .list_filters(ListFiltersRequest {})
        .await
        .unwrap()
        .into_inner();
    let filters: HashMap<_, _> = list.filters.iter().map(|f| (f.name.as_str(), f)).collect();
    for name in [
        "grayscale",
        "gaussian_blur",
        "edges",
        "sobel",
        "invert",
        "resize",
        "motion",
    ] {
        assert!(
            filters.contains_key(name),
            "{name} missing from {filters:?}"
        );
    }
    let sigma = &filters["gaussian_blur"].params[0];
    assert_eq!(
        (sigma.name.as_str(), sigma.min, sigma.max, sigma.default),
        ("sigma", 0.1, 50.0, 2.0)
    );
    assert_eq!(list.max_frame_pixels, 3840 * 2160);
    assert_eq!(list.max_frame_bytes, 32 * 1024 * 1024);
}

/// Each filter, applied by the server to a real photo sent as JPEG, gives exactly what
/// the image and imageproc crates give when called directly on the same picture.
#[tokio::test]
async fn every_filter_matches_the_image_libraries_called_directly() {
    let server = TestServer::start().await;
    let mut client = client(server.channel().await);
    let photo = image::load_from_memory(ROCKET_JPEG).unwrap();
    let (rgb, luma) = (photo.to_rgb8(), photo.to_luma8());
    let sobel = imageproc::gradients::sobel_gradients(&luma);
    // (filter, params, output encoding, expected picture)
    type Case<'a> = (&'a str, Vec<(&'a str, f64)>, Encoding, DynamicImage);
    let cases: Vec<Case> = vec![
        (
            "grayscale",
            vec![],
            Encoding::Gray8,
            DynamicImage::ImageLuma8(luma.clone()),
        ),
        (
            "gaussian_blur",
            vec![("sigma", 3.0)],
            Encoding::Rgb8,
            DynamicImage::ImageRgb8(imageproc::filter::gaussian_blur_f32(&rgb, 3.0)),
        ),
        (
            "edges",
            vec![("low", 40.0), ("high", 120.0)],
            Encoding::Png,
            DynamicImage::ImageLuma8(imageproc::edges::canny(&luma, 40.0, 120.0)),
        ),
        (
            "sobel",
            vec![],
            Encoding::Gray8,
            DynamicImage::ImageLuma8(GrayImage::from_fn(160, 120, |x, y| {
                image::Luma([sobel.get_pixel(x, y)[0].min(255) as u8])
            })),
        ),
        (
            "invert",
            vec![],
            Encoding::Rgb8,
            DynamicImage::ImageRgb8(RgbImage::from_fn(160, 120, |x, y| {
                image::Rgb(rgb.get_pixel(x, y).0.map(|c| 255 - c))
            })),
        ),
        (
            "resize",
            vec![("width", 80.0), ("height", 50.0)],
            Encoding::Rgb8,
            DynamicImage::ImageRgb8(image::imageops::resize(
                &rgb,
                80,
                50,
                image::imageops::FilterType::Triangle,
            )),
        ),
    ];
    for (filter, params, output, expected) in cases {
        let (replies, status) = process(
            &mut client,
            vec![
                config(filter, &params, output),
                frame(7, 0, 0, Encoding::Jpeg, ROCKET_JPEG.to_vec()),
            ],
        )
        .await;
        status.unwrap_or_else(|s| panic!("{filter}: {s:?}"));
        assert_eq!(replies.len(), 1, "{filter}");
        let reply = replies[0].frame.as_ref().unwrap();
        assert_eq!(reply.encoding(), output, "{filter}");
        assert_eq!(
            (reply.sequence_number, reply.presentation_timestamp_us),
            (7, 280_000)
        );
        let got = picture(&replies[0]);
        assert_eq!(got.dimensions_of(), expected.dimensions_of(), "{filter}");
        assert!(
            got.as_bytes() == expected.as_bytes(),
            "{filter}: pixels differ"
        );
        // A filter that did nothing would pass a broken comparison: it changes the picture.
        if filter != "resize" && filter != "grayscale" {
            assert!(got.to_rgb8() != rgb, "{filter} left the photo unchanged");
        }
    }
}

trait Dimensions {
    fn dimensions_of(&self) -> (u32, u32);
}

impl Dimensions for DynamicImage {
    fn dimensions_of(&self) -> (u32, u32) {
        (self.width(), self.height())
    }
}

/// The motion filter shows what changed since the previous frame of the same stream:
/// the photo, then the photo with a black square pasted in.
#[tokio::test]
async fn motion_shows_what_changed_since_the_previous_frame() {
    let server = TestServer::start().await;
    let mut client = client(server.channel().await);
    let first = rocket();
    let mut second = first.clone();
    for y in 40..70 {
        for x in 60..100 {
            second.put_pixel(x, y, image::Rgb([0, 0, 0]));
        }
    }
    let (replies, status) = process(
        &mut client,
        vec![
            config("motion", &[("threshold", 20.0)], Encoding::Unspecified),
            rgb_frame(0, &first),
            rgb_frame(1, &second),
        ],
    )
    .await;
    status.unwrap();
    assert_eq!(replies.len(), 2);
    // A raw input with a gray result comes back as GRAY8 when no encoding is asked for.
    assert_eq!(
        replies[1].frame.as_ref().unwrap().encoding(),
        Encoding::Gray8
    );
    assert!(
        picture(&replies[0]).as_bytes().iter().all(|&v| v == 0),
        "first frame: no motion"
    );
    let before = DynamicImage::ImageRgb8(first).to_luma8();
    let after = DynamicImage::ImageRgb8(second).to_luma8();
    let expected = GrayImage::from_fn(160, 120, |x, y| {
        let (a, b) = (before.get_pixel(x, y)[0], after.get_pixel(x, y)[0]);
        image::Luma([if a.abs_diff(b) > 20 { 255 } else { 0 }])
    });
    let moved = picture(&replies[1]).to_luma8();
    assert_eq!(moved, expected);
    let lit = moved.pixels().filter(|p| p[0] == 255).count();
    assert!(lit > 0 && lit <= 40 * 30, "{lit} pixels moved");
}

/// Frames of very different sizes (so very different processing times) in one stream:
/// the replies come back in the order sent, with each frame's own sequence number,
/// timestamp and size.
#[tokio::test]
async fn replies_keep_order_and_sequence_numbers_under_parallel_processing() {
    let server = TestServer::start().await;
    let mut client = client(server.channel().await);
    let mut requests = vec![config("gaussian_blur", &[("sigma", 4.0)], Encoding::Rgb8)];
    let mut sent = Vec::new();
    for i in 0..48u64 {
        // Big, tiny, medium, ... and sequence numbers that are not 0, 1, 2.
        let (width, height) = match i % 3 {
            0 => (640, 480),
            1 => (8, 8),
            _ => (160 + i as u32, 90),
        };
        let picture = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, i as u8])
        });
        let sequence_number = 1000 + i * 7;
        let mut request = rgb_frame(sequence_number, &picture);
        if let Some(Message::Frame(f)) = &mut request.message {
            f.presentation_timestamp_us = 5_000_000 - i * 1000;
        }
        sent.push((sequence_number, 5_000_000 - i * 1000, width, height));
        requests.push(request);
    }
    let (replies, status) = process(&mut client, requests).await;
    status.unwrap();
    let got: Vec<_> = replies
        .iter()
        .map(|r| {
            let f = r.frame.as_ref().unwrap();
            (
                f.sequence_number,
                f.presentation_timestamp_us,
                f.width,
                f.height,
            )
        })
        .collect();
    assert_eq!(got, sent);
}

/// Raw 1080p RGB frames (6.2 MB each, over the 4 MiB message default) pass both ways
/// with the server's default limits and a client that sets its own.
#[tokio::test]
async fn raw_1080p_frames_pass_with_the_default_limits() {
    let server = TestServer::start().await;
    let mut client = client(server.channel().await);
    let full_hd = RgbImage::from_fn(1920, 1080, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let (replies, status) = process(
        &mut client,
        vec![
            config("invert", &[], Encoding::Unspecified),
            rgb_frame(0, &full_hd),
            rgb_frame(1, &full_hd),
        ],
    )
    .await;
    status.unwrap();
    assert_eq!(replies.len(), 2);
    let inverted = picture(&replies[1]).to_rgb8();
    assert_eq!(inverted.dimensions(), (1920, 1080));
    assert_eq!(inverted.get_pixel(300, 20).0, [255 - 44, 255 - 20, 248]);
}

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
