//! The in-process cost of one frame, without gRPC: each filter, and JPEG decoding (to
//! RGB, and to the luma plane alone for the gray filters) and encoding, at 640 x 480
//! and 1280 x 720; and a JPEG frame through blur and resize back to JPEG, on the Y'CbCr
//! planes (also on the load tool's 4:4:4 quality-90 frames) and the general way.
//!
//! `cargo bench --bench video`. The picture is a real photo (tests/fixtures/rocket.jpg,
//! scaled up bilinearly). Numbers are in BENCHMARKS.md.

use std::{collections::BTreeMap, hint::black_box, time::Duration};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use grpc_showcase::domain::video::{self, Encoding, Frame, Limits, Processor};
use image::imageops::FilterType;

const PHOTO: &[u8] = include_bytes!("../tests/fixtures/rocket.jpg");

fn filters(c: &mut Criterion) {
    let photo = image::load_from_memory(PHOTO).expect("the fixture decodes");
    let mut group = c.benchmark_group("video_frame");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    for (width, height) in [(640, 480), (1280, 720)] {
        let picture = photo.resize_exact(width, height, FilterType::Triangle);
        let size = format!("{width}x{height}");
        for spec in &video::FILTERS {
            let filter = video::parse_filter(spec.name, &BTreeMap::new()).expect("defaults");
            group.bench_function(format!("{}/{size}", spec.name), |b| {
                // A new processor per frame, as the server does for every filter but
                // motion; motion keeps the previous frame, so it compares two frames.
                let mut processor = Processor::new(filter);
                processor.process(&picture);
                b.iter(|| processor.process(black_box(&picture)))
            });
        }
        let jpeg = video::encode(&picture, Encoding::Jpeg, 85).expect("encodes");
        let frame = || Frame {
            width,
            height,
            encoding: Encoding::Jpeg,
            data: jpeg.clone(),
        };
        let mut jpeg_444 = Vec::new();
        picture
            .to_rgb8()
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut jpeg_444,
                90,
            ))
            .expect("encodes");
        group.bench_function(format!("jpeg_decode/{size}"), |b| {
            b.iter(|| video::decode(black_box(frame()), &Limits::default()).expect("decodes"))
        });
        // What the gray filters decode: the luma plane alone.
        group.bench_function(format!("jpeg_decode_luma/{size}"), |b| {
            let gray = video::Filter::Sobel;
            b.iter(|| {
                video::decode_for(black_box(frame()), &Limits::default(), &gray).expect("decodes")
            })
        });
        group.bench_function(format!("jpeg_encode_q85/{size}"), |b| {
            b.iter(|| video::encode(black_box(&picture), Encoding::Jpeg, 85).expect("encodes"))
        });
        // What the gray filters encode.
        let gray = image::DynamicImage::ImageLuma8(picture.to_luma8());
        group.bench_function(format!("jpeg_encode_gray_q85/{size}"), |b| {
            b.iter(|| video::encode(black_box(&gray), Encoding::Jpeg, 85).expect("encodes"))
        });
        // A JPEG frame through blur and resize back to JPEG, on the Y'CbCr planes
        // (`filter_jpeg`) and the general way (decode to RGB, filter, encode).
        for name in ["gaussian_blur", "resize"] {
            let filter = video::parse_filter(name, &BTreeMap::new()).expect("defaults");
            group.bench_function(format!("jpeg_to_jpeg_planar/{name}/{size}"), |b| {
                b.iter(|| {
                    video::filter_jpeg(black_box(&frame()), &filter, &Limits::default(), 85)
                        .expect("the planar path applies")
                        .expect("filters")
                })
            });
            // The same on the load tool's frames (bench/load): the image crate's
            // encoder at quality 90, 4:4:4, three full-size planes to decode.
            group.bench_function(format!("jpeg_to_jpeg_planar_444/{name}/{size}"), |b| {
                let frame = Frame {
                    data: jpeg_444.clone(),
                    ..frame()
                };
                b.iter(|| {
                    video::filter_jpeg(black_box(&frame), &filter, &Limits::default(), 85)
                        .expect("the planar path applies")
                        .expect("filters")
                })
            });
            group.bench_function(format!("jpeg_to_jpeg_general/{name}/{size}"), |b| {
                b.iter(|| {
                    let decoded = video::decode(black_box(frame()), &Limits::default());
                    let processed = Processor::new(filter).process(&decoded.expect("decodes"));
                    video::encode(&processed, Encoding::Jpeg, 85).expect("encodes")
                })
            });
        }
    }
    group.finish();
}

/// The kernels of `edges` one by one, on the photo's luma at 640 x 480.
fn kernels(c: &mut Criterion) {
    use video::kernels;
    let photo = image::load_from_memory(PHOTO)
        .expect("the fixture decodes")
        .resize_exact(640, 480, FilterType::Triangle)
        .to_rgb8();
    let mut gray = vec![0; 640 * 480];
    kernels::luma(photo.as_raw(), &mut gray);
    let mut group = c.benchmark_group("video_kernels");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("luma/640x480", |b| {
        b.iter(|| kernels::luma(black_box(photo.as_raw()), &mut gray))
    });
    group.bench_function("blur_gray_sigma_1.4/640x480", |b| {
        b.iter(|| kernels::gaussian_blur(black_box(&gray), 640, 480, 1, 1.4))
    });
    group.bench_function("blur_rgb_sigma_2/640x480", |b| {
        b.iter(|| kernels::gaussian_blur(black_box(photo.as_raw()), 640, 480, 3, 2.0))
    });
    group.bench_function("sobel/640x480", |b| {
        b.iter(|| kernels::sobel(black_box(&gray), 640, 480))
    });
    group.bench_function("canny/640x480", |b| {
        b.iter(|| kernels::canny(black_box(&gray), 640, 480, 50.0, 100.0))
    });
    // The JPEG resize row's work: a 1280 x 720 plane to the default 320 x 240.
    let mut plane = vec![0; 1280 * 720];
    let big = image::imageops::resize(&photo, 1280, 720, FilterType::Triangle);
    kernels::luma(big.as_raw(), &mut plane);
    group.bench_function("bilinear_gray/1280x720_to_320x240", |b| {
        b.iter(|| kernels::bilinear(black_box(&plane), (1280, 720), 1, (320, 240)))
    });
    group.bench_function("bilinear_rgb/640x480_to_600x400", |b| {
        b.iter(|| kernels::bilinear(black_box(photo.as_raw()), (640, 480), 3, (600, 400)))
    });
    group.finish();
}

criterion_group!(benches, filters, kernels);
criterion_main!(benches);
