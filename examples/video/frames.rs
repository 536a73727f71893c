//! Where the frames come from (an .mp4, any video through ffmpeg, or a folder of
//! images) and where the processed ones go (an .mp4 or a folder of PNG files).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    Wire,
    h264::{Error, Mp4Decoder, Mp4Encoder},
    video::{Encoding, Frame},
};

/// Where the frames come from.
pub enum Source {
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
    pub fn open(path: &Path, fps: f64, scratch: &Path) -> Result<Self, Error> {
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

    pub fn frame_count(&self) -> usize {
        match self {
            Source::Video(decoder) => decoder.frame_count(),
            Source::Images { paths, .. } => paths.len(),
        }
    }

    /// The next frame (without its sequence number) and how long it is shown.
    pub fn next_frame(&mut self, wire: Wire) -> Result<Option<(Frame, u64)>, Error> {
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
pub enum Sink {
    Video(Box<Mp4Encoder>),
    Folder { dir: PathBuf, written: usize },
}

impl Sink {
    pub fn create(path: &Path) -> Result<Self, Error> {
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
    pub fn encoding(&self) -> Encoding {
        match self {
            Sink::Video(_) => Encoding::Rgb8,
            Sink::Folder { .. } => Encoding::Png,
        }
    }

    pub fn write(&mut self, frame: Frame, duration_us: u64) -> Result<(), Error> {
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

    pub fn finish(self) -> Result<(), Error> {
        if let Sink::Video(encoder) = self {
            encoder.finish()?;
        }
        Ok(())
    }
}
