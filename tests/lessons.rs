//! Smoke tests of the lessons (the `examples/` package): each one runs against a real
//! server as a learner runs it, and its output must show what the lesson teaches.

mod common;

use common::{
    TestServer,
    process::{command, run_client},
};
use grpc_showcase::domain::video::{Filter, Processor};
use image::RgbImage;

/// The video lesson's .mp4 reading and writing, used here to read its output back.
#[path = "../examples/video/h264.rs"]
#[allow(dead_code)]
mod h264;

#[tokio::test]
async fn greeter_example_shows_every_rpc_style() {
    let server = TestServer::start().await;
    let out = run_client("greeter", &server.url(), &[]).await;
    for expected in [
        "SayHello      -> Hello, World!",
        "SayHelloAgain -> Hello again, World!",
        "Konnichiwa, World!",
        "Hello, Barbara!",
        "DeadlineExceeded",
        "InvalidArgument: name must not be empty",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn greeter_example_compresses_when_asked() {
    let server = TestServer::start().await;
    for encoding in ["gzip", "zstd"] {
        let out = run_client("greeter", &server.url(), &["--compression", encoding]).await;
        assert!(
            out.contains(&format!(
                "(replies in grpc-encoding \"{encoding}\"; this one, under 1 KiB, travelled plain)"
            )),
            "{out}"
        );
        assert!(out.contains("Hello, Barbara!"), "{out}");
    }
}

#[tokio::test]
async fn calculator_example_shows_every_rpc_style() {
    let server = TestServer::start().await;
    let out = run_client("calculator", &server.url(), &[]).await;
    for expected in [
        "SquareRoot(2)      = 1.4142135623730951",
        "Divide(7.5, 2.5)   = 3",
        "field \"b\": division by zero",
        "factor                 6857   (product so far 600851475143)",
        "count 8, mean 3.875, min 1, max 9",
        "sent      6   max so far      9",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn model_inference_example_lists_describes_predicts_and_streams() {
    let server = TestServer::start().await;
    let out = run_client("model_inference", &server.url(), &[]).await;
    for expected in [
        "iris       v1  ready",
        "fraud      v1  ready",
        "tensor \"input\": FP32 [-1, 4]",
        "column petal_length     cm",
        "most likely: setosa",
        "row 2: [0.0001, 0.0962, 0.9036]",
        "#1 error 3: inputs has 5 values",
        "#3 [0.0001, 0.0962, 0.9036]",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn fraud_detection_example_scores_transactions() {
    let server = TestServer::start().await;
    let out = run_client("fraud_detection", &server.url(), &[]).await;
    for expected in [
        "coffee on a long-standing account",
        "a burst of purchases on a week-old account",
        "FRAUD",
        "negative amount -> InvalidArgument",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn feedback_example_sends_watches_and_lists() {
    let server = TestServer::start().await;
    // More than the example's request channel holds (16): scripted sending must not wait
    // for the call to start.
    let out = run_client("feedback", &server.url(), &["send", "--count", "40"]).await;
    for expected in [
        "#0 stored as feedback 1 [positive",
        "#2 stored as feedback 3 [negative",
        "Thank you for the kind words, alice!",
        "#39 stored as feedback 40",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let watched = run_client(
        "feedback",
        &server.url(),
        &["watch", "--replay-after", "0", "--limit", "6"],
    )
    .await;
    assert_eq!(watched.lines().count(), 6, "{watched}");
    assert!(watched.contains("The delivery was fast"), "{watched}");
    let listed = run_client("feedback", &server.url(), &["list", "--page-size", "4"]).await;
    assert!(listed.contains("-- page 2"), "{listed}");
    assert!(listed.contains("Support never answered"), "{listed}");
}

const VIDEO_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rocket.mp4");

/// Every picture of an .mp4, decoded.
fn pictures(path: &std::path::Path) -> Vec<h264::Picture> {
    let mut decoder = h264::Mp4Decoder::open(path).unwrap();
    let mut all = Vec::new();
    while let Some(picture) = decoder.next_picture().unwrap() {
        all.push(picture);
    }
    all
}

/// Mean absolute difference of two equal-length pixel buffers, in gray levels.
fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

/// The example's whole path on a real H.264 .mp4 (x264, High profile, B-frames):
/// decode, stream through the server, encode. The output is a playable H.264 .mp4
/// with the same number of frames and the same timing, each frame the inverse of the
/// input's frame at the same position (to within two rounds of lossy coding).
#[tokio::test]
async fn video_example_turns_an_mp4_into_a_processed_mp4() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("inverted.mp4");
    let out = run_client(
        "video",
        &server.url(),
        &[
            VIDEO_FIXTURE,
            "--filter",
            "invert",
            "-o",
            output.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.contains("75 frames in"), "{out}");
    assert!(out.contains("(320 x 240, 75 frames, 3.00 s)"), "{out}");

    let input = pictures(std::path::Path::new(VIDEO_FIXTURE));
    let processed = pictures(&output);
    assert_eq!(input.len(), 75);
    assert_eq!(processed.len(), input.len());
    let mut worst = 0.0f64;
    for (k, (before, after)) in input.iter().zip(&processed).enumerate() {
        assert_eq!((after.width, after.height), (320, 240), "frame {k}");
        assert_eq!(after.timestamp_us, before.timestamp_us, "frame {k}");
        let inverted: Vec<u8> = before.rgb.iter().map(|c| 255 - c).collect();
        let off = mean_abs_diff(&after.rgb, &inverted);
        assert!(
            off < 6.0,
            "frame {k} is {off:.1} gray levels from the inverted input"
        );
        worst = worst.max(off);
        // ... and far from the input itself: the filter ran.
        assert!(mean_abs_diff(&after.rgb, &before.rgb) > 60.0, "frame {k}");
    }
    println!("worst frame: {worst:.2} gray levels from the inverted input");

    // A player's own reading of it, where ffmpeg is installed (.ci/run installs it and
    // sets GRPC_SHOWCASE_REQUIRE_FFPROBE).
    let probe = command("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames,duration",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(&output)
        .output();
    match probe {
        Ok(probe) => {
            let text = String::from_utf8_lossy(&probe.stdout);
            assert!(probe.status.success(), "ffprobe: {text}");
            for expected in [
                "codec_name=h264",
                "width=320",
                "height=240",
                "nb_read_frames=75",
                "duration=3.0",
            ] {
                assert!(text.contains(expected), "ffprobe lacks {expected}: {text}");
            }
        }
        Err(_) => assert!(
            std::env::var_os("GRPC_SHOWCASE_REQUIRE_FFPROBE").is_none(),
            "ffprobe is required here but not installed"
        ),
    }
}

/// A folder of images in, a folder of PNG frames out: each frame is exactly what the
/// server's Canny gives on the image in process (PNG is lossless both ways).
#[tokio::test]
async fn video_example_processes_a_folder_of_images() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (frames_in, frames_out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir(&frames_in).unwrap();
    let input: Vec<h264::Picture> = pictures(std::path::Path::new(VIDEO_FIXTURE))
        .into_iter()
        .step_by(25)
        .collect();
    for (k, picture) in input.iter().enumerate() {
        RgbImage::from_raw(picture.width, picture.height, picture.rgb.clone())
            .unwrap()
            .save(frames_in.join(format!("{k:03}.png")))
            .unwrap();
    }
    let out = run_client(
        "video",
        &server.url(),
        &[
            frames_in.to_str().unwrap(),
            "--filter",
            "edges",
            "-o",
            frames_out.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.contains("3 frames in"), "{out}");
    for (k, picture) in input.iter().enumerate() {
        let rgb = RgbImage::from_raw(picture.width, picture.height, picture.rgb.clone()).unwrap();
        let expected = Processor::new(Filter::Canny {
            low: 50.0,
            high: 100.0,
        })
        .process(&image::DynamicImage::ImageRgb8(rgb))
        .to_luma8();
        let got = image::open(frames_out.join(format!("frame-{k:05}.png")))
            .unwrap()
            .to_luma8();
        assert_eq!(got, expected, "frame {k}");
    }
}
