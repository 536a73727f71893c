//! A client of `video.VideoProcessing`: streams the frames of a real video through a
//! filter on the server and writes the processed video.
//!
//! ```text
//! cargo run --release --bin video -- tests/fixtures/rocket.mp4 --filter edges -o edges.mp4
//! cargo run --release --bin video -- clip.mp4 --filter gaussian_blur --param sigma=4 -o blur.mp4
//! cargo run --release --bin video -- photos/ --filter motion -o motion/   # a folder of images
//! cargo run --release --bin video -- --list-filters
//! ```
//!
//! What it shows:
//! - the "config first, then data" bidirectional stream: one `StreamConfig` message,
//!   then one message per frame, and one reply per frame, in order;
//! - sending and receiving at the same time: a thread decodes the video and feeds the
//!   request stream through a small channel while the replies are encoded, so the
//!   decoder, the network, the server and the encoder all work at once, and the
//!   channel's bound is the back-pressure;
//! - message size limits set on purpose, on both sides: a raw 1080p RGB frame is
//!   6.2 MB, over gRPC's usual 4 MiB default;
//! - letting the server do the work: the config asks for the encoding the output needs
//!   (raw RGB for the .mp4 encoder, PNG for a folder), so the client never decodes a
//!   picture.
//!
//! Input: an .mp4 (or .mov, .m4v) with an H.264 track, decoded by OpenH264 (the openh264
//! crate builds it from source: no system package needed); a folder of .jpg/.jpeg/.png
//! images, sent as they are, in name order; or any other video when the ffmpeg program
//! is installed (it is converted to H.264 first). Output: an .mp4 (H.264 by OpenH264,
//! same frames and timing as the input), or, for any other path, a folder of PNG
//! frames. Start the server first (`cargo run --release`).

mod frames;
mod h264;

/// The code that build.rs generates from `proto/video.proto`: its messages and client.
pub mod video {
    tonic::include_proto!("video");
}

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Instant,
};

use clap::{Parser, ValueEnum};
use frames::{Sink, Source};
use h264::Error;
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message as _;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use video::{
    ListFiltersRequest, ProcessFramesRequest, StreamConfig, process_frames_request::Message,
    video_processing_client::VideoProcessingClient,
};

/// Streams a video's frames through a filter on the server and writes the result.
#[derive(Parser)]
// clap prints these doc comments verbatim as --help: `<input name>` there is a
// placeholder, not an HTML tag.
#[allow(rustdoc::invalid_html_tags)]
struct Args {
    /// The video (.mp4 with H.264; other formats need ffmpeg) or a folder of images.
    #[arg(required_unless_present = "list_filters")]
    input: Option<PathBuf>,
    /// Where to write: an .mp4 file, or a folder for PNG frames. Default:
    /// <input name>-<filter>.mp4 in the current directory.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The filter (see --list-filters).
    #[arg(long, default_value = "edges")]
    filter: String,
    /// A filter parameter as name=value, for example --param sigma=4 (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, f64)>,
    /// How decoded video frames travel to the server: raw RGB (lossless, no encoding
    /// cost, 3 bytes a pixel), JPEG (quality 90, about 10x smaller) or PNG. Images of a
    /// folder travel as they are.
    #[arg(long, value_enum, default_value_t = Wire::Rgb8)]
    wire: Wire,
    /// Frames per second of a folder of images.
    #[arg(long, default_value_t = 25.0)]
    fps: f64,
    /// Compress frames and replies with gzip or zstd: fewer bytes on a slow network, more
    /// CPU on both sides.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    compression: Compression,
    /// Print the server's filters and exit.
    #[arg(long)]
    list_filters: bool,
    /// The largest message this client sends or accepts, in bytes; the server's own
    /// limit is its --max-frame-bytes (32 MiB by default).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_message_size: usize,
    /// The server's address.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Wire {
    Rgb8,
    Jpeg,
    Png,
}

fn parse_param(text: &str) -> Result<(String, f64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not name=value"))?;
    let value = value
        .parse()
        .map_err(|err| format!("{value:?} is not a number: {err}"))?;
    Ok((name.to_owned(), value))
}

/// A gRPC status as "code: message" (its Debug form also dumps the raw details).
fn status_error(status: tonic::Status) -> Error {
    format!("{:?}: {}", status.code(), status.message()).into()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let channel = tonic::transport::Endpoint::from_shared(args.addr.clone())?
        .connect()
        .await?;
    let mut client = VideoProcessingClient::new(channel)
        .max_decoding_message_size(args.max_message_size)
        .max_encoding_message_size(args.max_message_size);
    let encoding = match args.compression {
        Compression::None => None,
        Compression::Gzip => Some(tonic::codec::CompressionEncoding::Gzip),
        Compression::Zstd => Some(tonic::codec::CompressionEncoding::Zstd),
    };
    if let Some(encoding) = encoding {
        client = client.send_compressed(encoding).accept_compressed(encoding);
    }

    if args.list_filters {
        let list = client
            .list_filters(ListFiltersRequest {})
            .await
            .map_err(status_error)?
            .into_inner();
        for filter in list.filters {
            println!("{}: {}", filter.name, filter.description);
            for p in filter.params {
                println!(
                    "    {} = {} ({} to {}): {}",
                    p.name, p.default, p.min, p.max, p.description
                );
            }
        }
        println!(
            "frames up to {} pixels and {} bytes",
            list.max_frame_pixels, list.max_frame_bytes
        );
        return Ok(());
    }

    let input = args.input.clone().expect("clap requires it");
    let output = args.output.clone().unwrap_or_else(|| {
        let stem = input.file_stem().unwrap_or_default().to_string_lossy();
        PathBuf::from(format!("{stem}-{}.mp4", args.filter))
    });
    let scratch = tempfile::tempdir()?;
    let mut source = Source::open(&input, args.fps, scratch.path())?;
    let total = source.frame_count();

    // The request stream: the config, then frames from a decoding thread. The channel
    // holds at most 4 frames: when the server stops reading, decoding stops too.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut sink = Sink::create(&output)?;
    let config = ProcessFramesRequest {
        message: Some(Message::Config(StreamConfig {
            filter: args.filter.clone(),
            params: args.params.iter().cloned().collect(),
            output_encoding: sink.encoding().into(),
            jpeg_quality: 0,
        })),
    };
    let durations = Arc::new(Mutex::new(HashMap::new()));
    let sent_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    tx.send(config).await?;
    let wire = args.wire;
    let (frame_durations, sent) = (Arc::clone(&durations), Arc::clone(&sent_bytes));
    let producer = tokio::task::spawn_blocking(move || -> Result<(), Error> {
        for sequence_number in 0.. {
            let Some((mut frame, duration_us)) = source.next_frame(wire)? else {
                return Ok(());
            };
            frame.sequence_number = sequence_number;
            frame_durations
                .lock()
                .expect("not poisoned")
                .insert(sequence_number, duration_us);
            let request = ProcessFramesRequest {
                message: Some(Message::Frame(frame)),
            };
            sent.fetch_add(
                request.encoded_len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            if tx.blocking_send(request).is_err() {
                // The call ended (an error from the server): main reports it.
                return Ok(());
            }
        }
        Ok(())
    });

    let progress = ProgressBar::new(total as u64).with_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} frames, {per_sec}, {elapsed} (eta {eta})",
    )?);
    let started = Instant::now();
    let mut replies = client
        .process_frames(ReceiverStream::new(rx))
        .await
        .map_err(status_error)?
        .into_inner();
    let (mut frames, mut received_bytes, mut size) = (0u64, 0u64, (0, 0));
    let mut shown_us = 0;
    let mut failure = None;
    while let Some(reply) = replies.next().await {
        let reply = match reply {
            Ok(reply) => reply,
            Err(status) => {
                failure = Some(status);
                break;
            }
        };
        received_bytes += reply.encoded_len() as u64;
        let frame = reply.frame.ok_or("a reply without a frame")?;
        let duration_us = durations
            .lock()
            .expect("not poisoned")
            .remove(&frame.sequence_number)
            .ok_or("a reply to a frame never sent")?;
        // The encoder is quick next to the server's work; a thread of its own would
        // overlap it with the next reply's transfer.
        size = (frame.width, frame.height);
        tokio::task::block_in_place(|| sink.write(frame, duration_us))?;
        shown_us += duration_us;
        frames += 1;
        progress.inc(1);
    }
    progress.finish_and_clear();
    producer.await??;
    sink.finish()?;
    if let Some(status) = failure {
        return Err(format!(
            "the server ended the stream after {frames} frames: {:?}: {}",
            status.code(),
            status.message()
        )
        .into());
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{frames} frames in {seconds:.2} s ({:.1} frames/s); sent {:.2} MB, received {:.2} MB{}",
        frames as f64 / seconds,
        sent_bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6,
        received_bytes as f64 / 1e6,
        if encoding.is_some() {
            " (messages before compression)"
        } else {
            ""
        }
    );
    println!(
        "wrote {} ({} x {}, {frames} frames, {:.2} s)",
        output.display(),
        size.0,
        size.1,
        shown_us as f64 / 1e6
    );
    Ok(())
}
