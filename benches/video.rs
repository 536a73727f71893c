//! The in-process cost of one frame, without gRPC: each filter, and JPEG decoding and
//! encoding, at 640 x 480 and 1280 x 720.
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
        group.bench_function(format!("jpeg_decode/{size}"), |b| {
            b.iter(|| {
                let frame = Frame {
                    width,
                    height,
                    encoding: Encoding::Jpeg,
                    data: jpeg.clone(),
                };
                video::decode(black_box(frame), &Limits::default()).expect("decodes")
            })
        });
        group.bench_function(format!("jpeg_encode_q85/{size}"), |b| {
            b.iter(|| video::encode(black_box(&picture), Encoding::Jpeg, 85).expect("encodes"))
        });
    }
    group.finish();
}

criterion_group!(benches, filters);
criterion_main!(benches);
