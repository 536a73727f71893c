//! The Y'CbCr path against the general one, its fallbacks, and broken input.

use image::{DynamicImage, RgbImage, imageops::FilterType};

use super::*;
use crate::domain::video::{Processor, decode as decode_frame, encode as encode_picture, kernels};

/// The fixture photo at `width` x `height`, as a JPEG from this project's encoder at
/// `quality`.
fn photo_jpeg(width: u32, height: u32, quality: u8) -> (Frame, DynamicImage) {
    let (rgb, w, h) = kernels::fixture();
    let photo = DynamicImage::ImageRgb8(RgbImage::from_raw(w as u32, h as u32, rgb).unwrap())
        .resize_exact(width, height, FilterType::Triangle);
    let jpeg = encode_picture(&photo, Encoding::Jpeg, quality).unwrap();
    (frame(jpeg), photo)
}

fn frame(data: Vec<u8>) -> Frame {
    Frame {
        width: 0,
        height: 0,
        encoding: Encoding::Jpeg,
        data,
    }
}

/// Mean absolute difference of two RGB8 pictures, gray levels.
fn mean_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: f64 = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum();
    sum / a.len() as f64
}

fn rgb_of_jpeg(jpeg: &[u8]) -> RgbImage {
    image::load_from_memory(jpeg).unwrap().to_rgb8()
}

/// Against the general path (decode to RGB, filter, encode): the planar output is as
/// close to the exactly filtered picture (the decoded input, filtered in RGB, not
/// encoded) as the general path's output is, within 0.4 gray level on average; and the
/// two outputs are as close to each other, within 0.4, as the general path's output
/// is to the exact picture.
#[test]
fn blur_and_resize_give_the_general_paths_picture() {
    let cases = [
        (Filter::GaussianBlur { sigma: 2.0 }, (640, 480)),
        (Filter::GaussianBlur { sigma: 0.6 }, (160, 120)),
        (Filter::GaussianBlur { sigma: 5.0 }, (17, 9)),
        (Filter::GaussianBlur { sigma: 1.0 }, (1, 1)),
        (Filter::GaussianBlur { sigma: 1.0 }, (1, 7)),
        (Filter::GaussianBlur { sigma: 1.0 }, (7, 1)),
        (
            Filter::Resize {
                width: 320,
                height: 240,
            },
            (640, 480),
        ),
        (
            Filter::Resize {
                width: 320,
                height: 240,
            },
            (1280, 720),
        ),
        (
            Filter::Resize {
                width: 200,
                height: 150,
            },
            (160, 120),
        ),
        (
            Filter::Resize {
                width: 2,
                height: 2,
            },
            (33, 17),
        ),
    ];
    // (input, output quality): 4:2:0 to 4:2:0, 4:4:4 to 4:4:4, 4:4:4 to 4:2:0.
    for (filter, (width, height)) in cases {
        for (input, quality) in [(85, 85), (95, 95), (95, 85)] {
            let case = format!("{filter:?} {width}x{height} quality {input} to {quality}");
            let (frame, _) = photo_jpeg(width, height, input);
            let fast = filter_jpeg(&frame, &filter, &Limits::default(), quality)
                .unwrap_or_else(|| panic!("{case}: took the general path"))
                .unwrap();
            let picture = decode_frame(frame.clone(), &Limits::default()).unwrap();
            let exact = Processor::new(filter).process(&picture);
            let general = encode_picture(&exact, Encoding::Jpeg, quality).unwrap();
            let (fast_rgb, general_rgb) = (rgb_of_jpeg(&fast.jpeg), rgb_of_jpeg(&general));
            assert_eq!(fast_rgb.dimensions(), (fast.width, fast.height), "{case}");
            let exact = exact.to_rgb8();
            let (fast_loss, general_loss) = (
                mean_difference(&fast_rgb, &exact),
                mean_difference(&general_rgb, &exact),
            );
            assert!(
                fast_loss <= general_loss + 0.4,
                "{case}: {fast_loss} from the exact picture, the general path {general_loss}"
            );
            let between = mean_difference(&fast_rgb, &general_rgb);
            assert!(
                between <= general_loss + 0.4,
                "{case}: {between} from the general path's output, which is {general_loss} \
                 from the exact picture"
            );
        }
    }
}

#[test]
fn other_frames_take_the_general_path() {
    let blur = Filter::GaussianBlur { sigma: 2.0 };
    let limits = Limits::default();
    let (frame_420, photo) = photo_jpeg(64, 48, 85);
    // 4:2:0 in, 4:4:4 out.
    assert!(filter_jpeg(&frame_420, &blur, &limits, 95).is_none());
    let (frame_444, _) = photo_jpeg(64, 48, 95);
    assert!(
        filter_jpeg(&frame_444, &blur, &limits, 85).is_some(),
        "halved chroma"
    );
    // The image crate's encoder (4:4:4, components 1, 2, 3), as the load tool sends.
    let mut from_image = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut from_image, 90);
    photo.write_with_encoder(encoder).unwrap();
    assert!(filter_jpeg(&frame(from_image), &blur, &limits, 85).is_some());
    // A size 4:2:0 chroma cannot take exactly.
    let odd = Filter::Resize {
        width: 33,
        height: 16,
    };
    assert!(filter_jpeg(&frame_420, &odd, &limits, 85).is_none());
    assert!(filter_jpeg(&frame_444, &odd, &limits, 85).is_none());
    assert!(
        filter_jpeg(&frame_444, &odd, &limits, 95).is_some(),
        "4:4:4 takes any size"
    );
    // Filters that are not per plane, and other encodings.
    assert!(filter_jpeg(&frame_420, &Filter::Sobel, &limits, 85).is_none());
    let png = Frame {
        encoding: Encoding::Png,
        ..frame_420.clone()
    };
    assert!(filter_jpeg(&png, &blur, &limits, 85).is_none());
    // Gray and 4:2:2 JPEGs.
    let gray = encode_picture(
        &DynamicImage::ImageLuma8(photo.to_luma8()),
        Encoding::Jpeg,
        85,
    );
    assert!(filter_jpeg(&frame(gray.unwrap()), &blur, &limits, 85).is_none());
    let mut jpeg_422 = Vec::new();
    let mut encoder = rusty_jpeg::Encoder::new(&mut jpeg_422, 85);
    encoder.set_sampling_factor(rusty_jpeg::SamplingFactor::R_4_2_2);
    let rgb = photo.to_rgb8();
    encoder
        .encode(&rgb, 64, 48, rusty_jpeg::ColorType::Rgb)
        .unwrap();
    assert!(filter_jpeg(&frame(jpeg_422), &blur, &limits, 85).is_none());
}

#[test]
fn halving_averages_two_by_two_and_keeps_odd_edges() {
    let plane = Plane {
        data: vec![0, 10, 20, 30, 40, 50, 60, 70, 80],
        width: 3,
        height: 3,
    };
    let half = halved(&plane);
    assert_eq!((half.width, half.height), (2, 2));
    // (0 + 10 + 30 + 40) / 4, (20 + 20 + 50 + 50) / 4, (60 + 70 + 60 + 70) / 4, 80.
    assert_eq!(half.data, [20, 35, 65, 80]);
    let one = halved(&Plane {
        data: vec![7],
        width: 1,
        height: 1,
    });
    assert_eq!((one.data, one.width, one.height), (vec![7], 1, 1));
}

#[test]
fn limits_are_checked_and_broken_files_do_not_panic() {
    let blur = Filter::GaussianBlur { sigma: 2.0 };
    let (good, _) = photo_jpeg(64, 48, 85);
    let small = Limits {
        max_pixels: 64 * 47,
        ..Limits::default()
    };
    let err = filter_jpeg(&good, &blur, &small, 85).unwrap().unwrap_err();
    assert!(err.is_size_limit(), "{err}");
    let garbage = filter_jpeg(
        &frame(b"not a jpeg".to_vec()),
        &blur,
        &Limits::default(),
        85,
    );
    assert!(matches!(garbage, Some(Err(FrameError::Undecodable(_)))));
    // Every prefix and every one-byte corruption of the header: an answer, no panic.
    for end in 0..good.data.len().min(700) {
        let _ = ycbcr_subsampling(&good.data[..end]);
        let mut broken = good.data.clone();
        broken[end] ^= 0xA5;
        let _ = ycbcr_subsampling(&broken);
        let _ = filter_jpeg(&frame(broken), &blur, &Limits::default(), 85);
    }
}
