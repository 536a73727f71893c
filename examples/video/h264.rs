//! H.264 video in .mp4 files, with no system library: the mp4 crate reads and writes the
//! container, the openh264 crate (Cisco's OpenH264, compiled from source) decodes and
//! encodes the pictures.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    fs::File,
    io::{BufReader, BufWriter},
    path::Path,
};

use openh264::{
    OpenH264API,
    decoder::{DecodedYUV, Decoder, DecoderConfig, Flush},
    encoder::{BitRate, Encoder, EncoderConfig, FrameRate, FrameType, RateControlMode},
    formats::{RgbSliceU8, YUVBuffer, YUVSource},
};

/// An error with what was being done.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One decoded picture: RGB8, row by row, and when it is shown.
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// width x height x 3 bytes.
    pub rgb: Vec<u8>,
    /// When it is shown, microseconds from the start.
    pub timestamp_us: u64,
    /// How long it is shown, microseconds.
    pub duration_us: u64,
}

/// The H.264 track of an .mp4 file, decoded picture by picture in presentation order.
pub struct Mp4Decoder {
    reader: mp4::Mp4Reader<BufReader<File>>,
    track_id: u32,
    sample_count: u32,
    /// Bytes of each NAL unit's length prefix in a sample (avcC lengthSizeMinusOne + 1).
    length_size: usize,
    /// SPS and PPS with start codes, put before each sync sample for the decoder.
    parameter_sets: Vec<u8>,
    decoder: Decoder,
    /// Ticks per second of the track's times.
    timescale: u64,
    /// (presentation time, duration), microseconds, of the samples read and not yet
    /// given to a picture, smallest time first. Samples are stored in decoding order,
    /// which differs from presentation order with B-frames; the decoder gives pictures
    /// in presentation order, and only after it has read their samples, so the smallest
    /// time read and not yet given is the next picture's.
    times: BinaryHeap<Reverse<(u64, u64)>>,
    /// The first picture's time, subtracted from every time: with B-frames the first
    /// picture is shown after a composition delay, which the file's edit list removes
    /// for players; start at 0 as they do.
    origin: Option<u64>,
    /// The last picture's (time, duration), to time a picture without a sample left.
    last: (u64, u64),
    next_sample: u32,
    flushed: Option<std::vec::IntoIter<Picture>>,
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

impl Mp4Decoder {
    /// Opens `path` and finds its H.264 track.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        let reader = mp4::Mp4Reader::read_header(BufReader::new(file), size)?;
        let track = reader
            .tracks()
            .values()
            .find(|t| matches!(t.media_type(), Ok(mp4::MediaType::H264)))
            .ok_or("no H.264 video track in the file")?;
        let track_id = track.track_id();
        let sample_count = track.sample_count();
        let timescale = u64::from(track.timescale()).max(1);
        let avcc = &track
            .trak
            .mdia
            .minf
            .stbl
            .stsd
            .avc1
            .as_ref()
            .ok_or("no avc1 sample description")?
            .avcc;
        let length_size = usize::from(avcc.length_size_minus_one & 3) + 1;
        let mut parameter_sets = Vec::new();
        for nal in avcc
            .sequence_parameter_sets
            .iter()
            .chain(&avcc.picture_parameter_sets)
        {
            parameter_sets.extend_from_slice(&START_CODE);
            parameter_sets.extend_from_slice(&nal.bytes);
        }
        let decoder = Decoder::with_api_config(
            OpenH264API::from_source(),
            DecoderConfig::new().flush_after_decode(Flush::NoFlush),
        )?;
        Ok(Self {
            reader,
            track_id,
            sample_count,
            length_size,
            parameter_sets,
            decoder,
            timescale,
            times: BinaryHeap::new(),
            origin: None,
            last: (0, 0),
            next_sample: 1,
            flushed: None,
        })
    }

    /// How many pictures the track has.
    pub fn frame_count(&self) -> usize {
        self.sample_count as usize
    }

    /// The next picture in presentation order, or `None` at the end.
    pub fn next_picture(&mut self) -> Result<Option<Picture>, Error> {
        while self.next_sample <= self.sample_count {
            let id = self.next_sample;
            self.next_sample += 1;
            let Some(sample) = self.reader.read_sample(self.track_id, id)? else {
                continue;
            };
            let time = i128::from(sample.start_time) + i128::from(sample.rendering_offset);
            let us = |ticks: i128| (ticks.max(0) as u64) * 1_000_000 / self.timescale;
            self.times
                .push(Reverse((us(time), us(i128::from(sample.duration)))));
            // The .mp4 stores NAL units with length prefixes; the decoder reads Annex B
            // (start codes), with SPS and PPS before each sync sample.
            let mut annex_b = Vec::with_capacity(sample.bytes.len() + 64);
            if sample.is_sync {
                annex_b.extend_from_slice(&self.parameter_sets);
            }
            let mut rest = &sample.bytes[..];
            while rest.len() >= self.length_size {
                let len = rest[..self.length_size]
                    .iter()
                    .fold(0usize, |n, &b| (n << 8) | usize::from(b));
                rest = &rest[self.length_size..];
                let nal = rest.get(..len).ok_or("a NAL unit runs past its sample")?;
                annex_b.extend_from_slice(&START_CODE);
                annex_b.extend_from_slice(nal);
                rest = &rest[len..];
            }
            let decoded = self
                .decoder
                .decode(&annex_b)
                .map_err(|err| format!("sample {id}: {err}"))?
                .map(|yuv| to_rgb(&yuv));
            if let Some((width, height, rgb)) = decoded {
                return Ok(Some(self.timed(width, height, rgb)));
            }
        }
        if self.flushed.is_none() {
            let remaining: Vec<_> = self.decoder.flush_remaining()?.iter().map(to_rgb).collect();
            let pictures: Vec<Picture> = remaining
                .into_iter()
                .map(|(width, height, rgb)| self.timed(width, height, rgb))
                .collect();
            self.flushed = Some(pictures.into_iter());
        }
        Ok(self.flushed.as_mut().and_then(Iterator::next))
    }

    /// The picture `rgb`, with the smallest time read and not yet given.
    fn timed(&mut self, width: u32, height: u32, rgb: Vec<u8>) -> Picture {
        let (time, duration_us) = match self.times.pop() {
            Some(Reverse(time)) => time,
            // More pictures than samples cannot happen with a valid file; keep going.
            None => {
                let (time, duration) = self.last;
                (time + duration, duration)
            }
        };
        self.last = (time, duration_us);
        let origin = *self.origin.get_or_insert(time);
        Picture {
            width,
            height,
            rgb,
            timestamp_us: time.saturating_sub(origin),
            duration_us,
        }
    }
}

/// A decoded picture as (width, height, RGB8 bytes).
fn to_rgb(yuv: &DecodedYUV<'_>) -> (u32, u32, Vec<u8>) {
    let (width, height) = yuv.dimensions();
    let mut rgb = vec![0; width * height * 3];
    yuv.write_rgb8(&mut rgb);
    (width as u32, height as u32, rgb)
}

/// Writes RGB pictures as an H.264 track (Constrained Baseline, OpenH264) in an .mp4.
pub struct Mp4Encoder {
    path: std::path::PathBuf,
    encoder: Option<Encoder>,
    writer: Option<mp4::Mp4Writer<BufWriter<File>>>,
    /// The size of every picture (the first one's, cropped to even numbers).
    size: Option<(u32, u32)>,
    /// The track's time so far, in TIMESCALE ticks (rounded from microseconds once).
    elapsed_us: u64,
    frames: usize,
}

/// Ticks per second of the written track: 90 kHz, the MPEG convention.
const TIMESCALE: u32 = 90_000;

impl Mp4Encoder {
    /// An encoder that creates `path` on the first picture.
    pub fn create(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            encoder: None,
            writer: None,
            size: None,
            elapsed_us: 0,
            frames: 0,
        }
    }

    /// Encodes one picture (RGB8, `width` x `height`) shown for `duration_us`.
    /// Pictures must all have one size; odd widths and heights lose their last column
    /// or row (H.264's 4:2:0 chroma needs even sizes).
    pub fn write(
        &mut self,
        width: u32,
        height: u32,
        rgb: &[u8],
        duration_us: u64,
    ) -> Result<(), Error> {
        let (even_w, even_h) = *self.size.get_or_insert((width & !1, height & !1));
        if (width & !1, height & !1) != (even_w, even_h) {
            return Err(format!(
                "picture {} is {width} x {height}; the video is {even_w} x {even_h}",
                self.frames
            )
            .into());
        }
        if even_w == 0 || even_h == 0 {
            return Err("pictures of less than 2 x 2 pixels cannot be encoded".into());
        }
        let cropped;
        let rgb = if (even_w, even_h) == (width, height) {
            rgb
        } else {
            let row = width as usize * 3;
            cropped = rgb
                .chunks_exact(row)
                .take(even_h as usize)
                .flat_map(|line| &line[..even_w as usize * 3])
                .copied()
                .collect::<Vec<u8>>();
            &cropped
        };
        let yuv =
            YUVBuffer::from_rgb8_source(RgbSliceU8::new(rgb, (even_w as usize, even_h as usize)));
        if self.encoder.is_none() {
            // Quality-mode rate control at about 0.2 bits per pixel per frame at the
            // frame rate given, and never a skipped frame: the output has exactly as
            // many pictures as the input.
            let fps = 1_000_000.0 / duration_us.max(1) as f32;
            let bps = (f64::from(even_w) * f64::from(even_h) * f64::from(fps) * 0.2) as u32;
            let config = EncoderConfig::new()
                .bitrate(BitRate::from_bps(bps.max(100_000)))
                .max_frame_rate(FrameRate::from_hz(fps.clamp(1.0, 240.0)))
                .rate_control_mode(RateControlMode::Bufferbased)
                .skip_frames(false);
            self.encoder = Some(Encoder::with_api_config(
                OpenH264API::from_source(),
                config,
            )?);
        }
        let encoder = self.encoder.as_mut().expect("created above");
        let timestamp = openh264::Timestamp::from_millis(self.elapsed_us / 1000);
        let bitstream = encoder.encode_at(&yuv, timestamp)?;
        let frame_type = bitstream.frame_type();
        if frame_type == FrameType::Skip || frame_type == FrameType::Invalid {
            return Err(format!("the encoder skipped picture {}", self.frames).into());
        }
        let mut sample = Vec::new();
        let (mut sps, mut pps) = (None, None);
        for l in 0..bitstream.num_layers() {
            let layer = bitstream.layer(l).expect("l < num_layers");
            for n in 0..layer.nal_count() {
                let nal = strip_start_code(layer.nal_unit(n).expect("n < nal_count"));
                match nal.first().map(|b| b & 0x1F) {
                    Some(7) => sps = Some(nal.to_vec()),
                    Some(8) => pps = Some(nal.to_vec()),
                    _ => {
                        sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        sample.extend_from_slice(nal);
                    }
                }
            }
        }
        if self.writer.is_none() {
            let (Some(sps), Some(pps)) = (sps, pps) else {
                return Err("the first encoded picture has no SPS and PPS".into());
            };
            let file = BufWriter::new(File::create(&self.path)?);
            let mut writer = mp4::Mp4Writer::write_start(
                file,
                &mp4::Mp4Config {
                    major_brand: "isom".parse()?,
                    minor_version: 512,
                    compatible_brands: ["isom", "iso2", "avc1", "mp41"]
                        .iter()
                        .map(|b| b.parse())
                        .collect::<Result<_, _>>()?,
                    timescale: 1000,
                },
            )?;
            writer.add_track(&mp4::TrackConfig {
                track_type: mp4::TrackType::Video,
                timescale: TIMESCALE,
                language: "und".to_owned(),
                media_conf: mp4::MediaConfig::AvcConfig(mp4::AvcConfig {
                    width: even_w as u16,
                    height: even_h as u16,
                    seq_param_set: sps,
                    pic_param_set: pps,
                }),
            })?;
            self.writer = Some(writer);
        }
        let ticks = |us: u64| us * u64::from(TIMESCALE) / 1_000_000;
        let start = ticks(self.elapsed_us);
        self.elapsed_us += duration_us;
        let duration = (ticks(self.elapsed_us) - start) as u32;
        self.writer.as_mut().expect("created above").write_sample(
            1,
            &mp4::Mp4Sample {
                start_time: start,
                duration,
                rendering_offset: 0,
                is_sync: frame_type == FrameType::IDR,
                bytes: sample.into(),
            },
        )?;
        self.frames += 1;
        Ok(())
    }

    /// Writes the index (moov) and closes the file; the number of pictures written.
    pub fn finish(mut self) -> Result<usize, Error> {
        if let Some(mut writer) = self.writer.take() {
            writer.write_end()?;
            use std::io::Write;
            writer.into_writer().flush()?;
        }
        Ok(self.frames)
    }
}

/// A NAL unit without its Annex B start code (00 00 01 or 00 00 00 01).
fn strip_start_code(nal: &[u8]) -> &[u8] {
    let zeros = nal.iter().take_while(|&&b| b == 0).count();
    if zeros >= 2 && nal.get(zeros) == Some(&1) {
        &nal[zeros + 1..]
    } else {
        nal
    }
}
