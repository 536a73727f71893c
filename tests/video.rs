//! video.VideoProcessing through a real client over a real socket: the filters, the
//! order of replies, large frames. (tests/video_limits.rs: bad input, flow control,
//! cancellation.)
//!
//! The frame is a real photo: tests/fixtures/rocket.jpg (see make_fixtures.sh there).

mod common;

use std::collections::HashMap;

use common::{TestServer, video::*};
use grpc_showcase::domain::video::{self, Filter, Processor, kernels};
use grpc_showcase::proto::video::{Encoding, ListFiltersRequest, process_frames_request::Message};
use image::{DynamicImage, GrayImage, RgbImage};

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
/// the video kernels give when called directly on the same picture (the kernels' own
/// tests compare them with straightforward references), and resize what the processor
/// gives in process. The filters that work in gray start from the JPEG's own luma plane
/// (`decode_for`), the others from its decoded colours.
#[tokio::test]
async fn every_filter_matches_the_kernels_called_directly() {
    let server = TestServer::start().await;
    let mut client = client(server.channel().await);
    let photo = image::load_from_memory(ROCKET_JPEG).unwrap();
    let rgb = photo.to_rgb8();
    let gray = video::decode_for(
        video::Frame {
            width: 0,
            height: 0,
            encoding: video::Encoding::Jpeg,
            data: ROCKET_JPEG.to_vec(),
        },
        &video::Limits::default(),
        &Filter::Sobel,
    )
    .unwrap();
    assert_eq!(gray.color(), image::ColorType::L8, "the luma plane alone");
    let gray = gray.into_luma8().into_raw();
    let luma =
        |pixels: Vec<u8>| DynamicImage::ImageLuma8(GrayImage::from_raw(160, 120, pixels).unwrap());
    let resize = Filter::Resize {
        width: 80,
        height: 50,
    };
    // (filter, params, output encoding, expected picture)
    type Case<'a> = (&'a str, Vec<(&'a str, f64)>, Encoding, DynamicImage);
    let cases: Vec<Case> = vec![
        ("grayscale", vec![], Encoding::Gray8, luma(gray.clone())),
        (
            "gaussian_blur",
            vec![("sigma", 3.0)],
            Encoding::Rgb8,
            DynamicImage::ImageRgb8(
                RgbImage::from_raw(
                    160,
                    120,
                    kernels::gaussian_blur(rgb.as_raw(), 160, 120, 3, 3.0),
                )
                .unwrap(),
            ),
        ),
        (
            "edges",
            vec![("low", 40.0), ("high", 120.0)],
            Encoding::Png,
            luma(kernels::canny(&gray, 160, 120, 40.0, 120.0)),
        ),
        (
            "sobel",
            vec![],
            Encoding::Gray8,
            luma(kernels::sobel_magnitude(&gray, 160, 120)),
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
            Processor::new(resize).process(&photo),
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

/// A JPEG frame through blur or resize, JPEG back (the default output): the reply is
/// exactly what the Y'CbCr path (`filter_jpeg`) gives in process, and as close to the
/// filtered photo as the general path's JPEG.
#[tokio::test]
async fn jpeg_frames_are_blurred_and_resized_as_jpeg() {
    let server = TestServer::start().await;
    let mut client = client(server.channel().await);
    let photo = image::load_from_memory(ROCKET_JPEG).unwrap();
    let cases = [
        (
            "gaussian_blur",
            vec![("sigma", 3.0)],
            Filter::GaussianBlur { sigma: 3.0 },
        ),
        (
            "resize",
            vec![("width", 80.0), ("height", 60.0)],
            Filter::Resize {
                width: 80,
                height: 60,
            },
        ),
    ];
    for (name, params, filter) in cases {
        let (replies, status) = process(
            &mut client,
            vec![
                config(name, &params, Encoding::Unspecified),
                frame(3, 0, 0, Encoding::Jpeg, ROCKET_JPEG.to_vec()),
            ],
        )
        .await;
        status.unwrap_or_else(|s| panic!("{name}: {s:?}"));
        let reply = replies[0].frame.as_ref().unwrap();
        assert_eq!(reply.encoding(), Encoding::Jpeg, "{name}");
        let input = video::Frame {
            width: 0,
            height: 0,
            encoding: video::Encoding::Jpeg,
            data: ROCKET_JPEG.to_vec(),
        };
        let expected = video::filter_jpeg(&input, &filter, &video::Limits::default(), 85)
            .expect("the Y'CbCr path applies")
            .unwrap();
        assert_eq!(
            (reply.width, reply.height),
            (expected.width, expected.height)
        );
        assert!(
            reply.data == expected.jpeg,
            "{name}: not the Y'CbCr path's JPEG"
        );
        // As close to the filtered photo as the general path's JPEG (decode to RGB,
        // filter, encode), within 0.4 gray level on average.
        let got = picture(&replies[0]).to_rgb8();
        let exact = Processor::new(filter).process(&photo);
        let general = video::encode(&exact, video::Encoding::Jpeg, 85).unwrap();
        let general = image::load_from_memory(&general).unwrap().to_rgb8();
        let exact = exact.to_rgb8();
        let mean = |a: &RgbImage| {
            let sum: f64 = a
                .iter()
                .zip(exact.iter())
                .map(|(x, y)| f64::from(x.abs_diff(*y)))
                .sum();
            sum / a.len() as f64
        };
        let (ours, general) = (mean(&got), mean(&general));
        assert!(
            ours <= general + 0.4,
            "{name}: {ours} from the filtered photo, general {general}"
        );
        if name == "gaussian_blur" {
            assert!(got != photo.to_rgb8(), "the blur changed the photo");
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
