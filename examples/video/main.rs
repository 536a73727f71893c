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

mod h264;

/// The code that build.rs generates from `proto/video.proto`: its messages and client.
pub mod video {
    tonic::include_proto!("video");
}

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    time::Instant,
};

use clap::{Parser, ValueEnum};
use h264::{Error, Mp4Decoder, Mp4Encoder};
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message as _;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use video::{
    Encoding, Frame, ListFiltersRequest, ProcessFramesRequest, StreamConfig,
    process_frames_request::Message, video_processing_client::VideoProcessingClient,
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

/// Where the frames come from.
enum Source {
    Video(Box<Mp4Decoder>),
    Images {
        paths: Vec<PathBuf>,
        next: usize,
        frame_us: u64,
    },
}

impl Source {
    /// Opens `path`; converts it with ffmpeg into `scratch` when it is not an H.264
    /// .mp4 and ffmpeg is installed.
    fn open(path: &Path, fps: f64, scratch: &Path) -> Result<Self, Error> {
        if path.is_dir() {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(path)?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            paths.retain(|p| image_encoding(p).is_some());
            paths.sort();
            if paths.is_empty() {
                return Err(format!("no .jpg, .jpeg or .png file in {}", path.display()).into());
            }
            if !(fps > 0.0 && fps <= 1000.0) {
                return Err(format!("--fps {fps}: give 0 to 1000").into());
            }
            return Ok(Source::Images {
                paths,
                next: 0,
                frame_us: (1_000_000.0 / fps).round() as u64,
            });
        }
        let is_mp4 = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["mp4", "m4v", "mov"]
                .iter()
                .any(|ext| e.eq_ignore_ascii_case(ext))
        });
        let direct = if is_mp4 {
            Mp4Decoder::open(path)
        } else {
            Err("not an .mp4".into())
        };
        match direct {
            Ok(decoder) => Ok(Source::Video(Box::new(decoder))),
            Err(err) if ffmpeg_available() => {
                eprintln!(
                    "{}: {err}; converting it to H.264 with ffmpeg",
                    path.display()
                );
                let converted = scratch.join("input.mp4");
                let status = Command::new("ffmpeg")
                    .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
                    .arg(path)
                    .args([
                        "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt",
                        "yuv420p",
                    ])
                    .arg(&converted)
                    .status()?;
                if !status.success() {
                    return Err(format!("ffmpeg could not convert {}", path.display()).into());
                }
                Ok(Source::Video(Box::new(Mp4Decoder::open(&converted)?)))
            }
            Err(err) => Err(format!(
                "{}: {err} (H.264 in .mp4 is read directly; install ffmpeg for other formats)",
                path.display()
            )
            .into()),
        }
    }

    fn frame_count(&self) -> usize {
        match self {
            Source::Video(decoder) => decoder.frame_count(),
            Source::Images { paths, .. } => paths.len(),
        }
    }

    /// The next frame (without its sequence number) and how long it is shown.
    fn next_frame(&mut self, wire: Wire) -> Result<Option<(Frame, u64)>, Error> {
        match self {
            Source::Video(decoder) => {
                let Some(picture) = decoder.next_picture()? else {
                    return Ok(None);
                };
                let (width, height) = (picture.width, picture.height);
                let (encoding, data) = match wire {
                    Wire::Rgb8 => (Encoding::Rgb8, picture.rgb),
                    Wire::Jpeg => (Encoding::Jpeg, jpeg(&picture.rgb, width, height)?),
                    Wire::Png => (Encoding::Png, png(&picture.rgb, width, height)?),
                };
                let frame = Frame {
                    presentation_timestamp_us: picture.timestamp_us,
                    width: picture.width,
                    height: picture.height,
                    encoding: encoding.into(),
                    data,
                    ..Frame::default()
                };
                Ok(Some((frame, picture.duration_us)))
            }
            Source::Images {
                paths,
                next,
                frame_us,
            } => {
                let Some(path) = paths.get(*next) else {
                    return Ok(None);
                };
                let frame = Frame {
                    presentation_timestamp_us: *next as u64 * *frame_us,
                    // The server reads the size from the file's header.
                    encoding: image_encoding(path).expect("kept above").into(),
                    data: std::fs::read(path)?,
                    ..Frame::default()
                };
                *next += 1;
                Ok(Some((frame, *frame_us)))
            }
        }
    }
}

/// An RGB8 picture as a JPEG file, quality 90.
fn jpeg(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let too_large = |_| "JPEG takes at most 65,535 x 65,535 pixels";
    jpeg_encoder::Encoder::new(&mut out, 90).encode(
        rgb,
        u16::try_from(width).map_err(too_large)?,
        u16::try_from(height).map_err(too_large)?,
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok(out)
}

/// An RGB8 picture as a PNG file.
fn png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

fn image_encoding(path: &Path) -> Option<Encoding> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => Some(Encoding::Jpeg),
        "png" => Some(Encoding::Png),
        _ => None,
    }
}

fn ffmpeg_available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Where the processed frames go.
enum Sink {
    Video(Box<Mp4Encoder>),
    Folder { dir: PathBuf, written: usize },
}

impl Sink {
    fn create(path: &Path) -> Result<Self, Error> {
        let is_mp4 = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mp4"));
        if is_mp4 {
            Ok(Sink::Video(Box::new(Mp4Encoder::create(path))))
        } else {
            std::fs::create_dir_all(path)?;
            Ok(Sink::Folder {
                dir: path.to_owned(),
                written: 0,
            })
        }
    }

    /// The encoding to ask the server for: what this sink writes as it comes, so that
    /// the client never decodes a picture. An .mp4 needs raw RGB for its encoder; a
    /// folder gets PNG files.
    fn encoding(&self) -> Encoding {
        match self {
            Sink::Video(_) => Encoding::Rgb8,
            Sink::Folder { .. } => Encoding::Png,
        }
    }

    fn write(&mut self, frame: Frame, duration_us: u64) -> Result<(), Error> {
        if frame.encoding() != self.encoding() {
            return Err(format!("a reply in {:?}, not as asked", frame.encoding()).into());
        }
        match self {
            Sink::Video(encoder) => {
                if frame.data.len() as u64 != u64::from(frame.width) * u64::from(frame.height) * 3 {
                    return Err("an RGB8 reply of the wrong length".into());
                }
                encoder.write(frame.width, frame.height, &frame.data, duration_us)
            }
            Sink::Folder { dir, written } => {
                std::fs::write(dir.join(format!("frame-{written:05}.png")), &frame.data)?;
                *written += 1;
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), Error> {
        if let Sink::Video(encoder) = self {
            encoder.finish()?;
        }
        Ok(())
    }
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
