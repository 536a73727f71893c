//! Video frames and image filters: the domain of `video.VideoProcessing`
//! (`src/services/video.rs` is its gRPC adapter).
//!
//! A [`Frame`] carries one picture, JPEG, PNG or raw (8-bit gray or RGB, row by row).
//! [`decode`] checks its size against [`Limits`] before any pixel is decoded: a JPEG or
//! PNG header that announces an enormous picture (a decompression bomb) is refused from
//! the header alone. A [`Processor`] applies one [`Filter`] to the frames of one stream;
//! the motion filter compares each frame with the previous one of the same stream.
//! Filters come from the image and imageproc crates.

use std::{collections::BTreeMap, fmt, io::Cursor};

use image::{DynamicImage, GrayImage, ImageFormat, ImageReader, RgbImage, imageops::FilterType};

/// How a frame's bytes encode its picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A JPEG file.
    Jpeg,
    /// A PNG file.
    Png,
    /// Raw 8-bit gray: width x height bytes, row by row.
    Gray8,
    /// Raw 8-bit RGB: width x height x 3 bytes, row by row.
    Rgb8,
}

/// One picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels (for JPEG and PNG, the file's own header is authoritative).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// How `data` encodes the picture.
    pub encoding: Encoding,
    /// The encoded bytes.
    pub data: Vec<u8>,
}

/// The largest frames accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most pixels (width x height) in a frame.
    pub max_pixels: u64,
    /// Most bytes of a frame's data.
    pub max_bytes: usize,
}

impl Default for Limits {
    /// 4K UHD (3840 x 2160 = 8,294,400 pixels) and 32 MiB, enough for raw 4K RGB (24.9 MB).
    fn default() -> Self {
        Self {
            max_pixels: 3840 * 2160,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Zero width or height.
    EmptyPicture,
    /// More pixels than [`Limits::max_pixels`] (from the header, before decoding).
    TooManyPixels {
        /// Width x height announced.
        pixels: u64,
        /// The limit.
        max: u64,
    },
    /// More bytes than [`Limits::max_bytes`].
    TooManyBytes {
        /// The frame's size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A raw frame whose length is not width x height x channels.
    WrongLength {
        /// Bytes given.
        len: usize,
        /// Bytes expected.
        expected: u64,
    },
    /// Bytes that are not a valid picture of the announced encoding.
    Undecodable(String),
}

impl FrameError {
    /// True for size limits (RESOURCE_EXHAUSTED), false for malformed frames.
    pub fn is_size_limit(&self) -> bool {
        matches!(
            self,
            FrameError::TooManyPixels { .. } | FrameError::TooManyBytes { .. }
        )
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::EmptyPicture => f.write_str("the frame has zero width or height"),
            FrameError::TooManyPixels { pixels, max } => {
                write!(
                    f,
                    "the frame has {pixels} pixels; at most {max} are accepted"
                )
            }
            FrameError::TooManyBytes { bytes, max } => {
                write!(f, "the frame is {bytes} bytes; at most {max} are accepted")
            }
            FrameError::WrongLength { len, expected } => write!(
                f,
                "the raw frame is {len} bytes; width x height x channels is {expected}"
            ),
            FrameError::Undecodable(reason) => write!(f, "the frame cannot be decoded: {reason}"),
        }
    }
}

impl std::error::Error for FrameError {}

fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), FrameError> {
    if width == 0 || height == 0 {
        return Err(FrameError::EmptyPicture);
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(FrameError::TooManyPixels {
            pixels,
            max: limits.max_pixels,
        });
    }
    Ok(())
}

/// Decodes `frame`, refusing it by its size before decoding any pixel. A raw frame's
/// bytes become the picture's buffer without a copy.
///
/// # Errors
/// [`FrameError`]: over a limit, empty, a raw frame of the wrong length, or bytes that
/// do not decode.
pub fn decode(frame: Frame, limits: &Limits) -> Result<DynamicImage, FrameError> {
    if frame.data.len() > limits.max_bytes {
        return Err(FrameError::TooManyBytes {
            bytes: frame.data.len(),
            max: limits.max_bytes,
        });
    }
    let raw = |channels: u64| -> Result<(), FrameError> {
        check_pixels(frame.width, frame.height, limits)?;
        let expected = u64::from(frame.width) * u64::from(frame.height) * channels;
        if frame.data.len() as u64 != expected {
            return Err(FrameError::WrongLength {
                len: frame.data.len(),
                expected,
            });
        }
        Ok(())
    };
    match frame.encoding {
        Encoding::Gray8 => {
            raw(1)?;
            GrayImage::from_raw(frame.width, frame.height, frame.data)
                .map(DynamicImage::ImageLuma8)
                .ok_or_else(|| FrameError::Undecodable("buffer size".into()))
        }
        Encoding::Rgb8 => {
            raw(3)?;
            RgbImage::from_raw(frame.width, frame.height, frame.data)
                .map(DynamicImage::ImageRgb8)
                .ok_or_else(|| FrameError::Undecodable("buffer size".into()))
        }
        Encoding::Jpeg | Encoding::Png => {
            let format = if frame.encoding == Encoding::Jpeg {
                ImageFormat::Jpeg
            } else {
                ImageFormat::Png
            };
            let reader = || ImageReader::with_format(Cursor::new(&frame.data), format);
            // The header alone gives the dimensions: refuse a bomb before decoding it.
            let (width, height) = reader()
                .into_dimensions()
                .map_err(|err| FrameError::Undecodable(err.to_string()))?;
            check_pixels(width, height, limits)?;
            reader()
                .decode()
                .map_err(|err| FrameError::Undecodable(err.to_string()))
        }
    }
}

/// Encodes `picture` as `encoding` (JPEG at `jpeg_quality`, 1 to 100).
///
/// # Errors
/// A message when the encoder fails (not expected for in-memory output).
pub fn encode(
    picture: &DynamicImage,
    encoding: Encoding,
    jpeg_quality: u8,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match encoding {
        Encoding::Gray8 => out = picture.to_luma8().into_raw(),
        Encoding::Rgb8 => out = picture.to_rgb8().into_raw(),
        Encoding::Png => picture
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .map_err(|err| err.to_string())?,
        Encoding::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut out,
                jpeg_quality.clamp(1, 100),
            );
            // JPEG has no alpha: encode RGB (or gray as it is).
            match picture {
                DynamicImage::ImageLuma8(gray) => gray.write_with_encoder(encoder),
                other => other.to_rgb8().write_with_encoder(encoder),
            }
            .map_err(|err| err.to_string())?
        }
    }
    Ok(out)
}

/// One parameter of a filter, for discovery.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Its name.
    pub name: &'static str,
    /// The smallest value accepted.
    pub min: f64,
    /// The largest value accepted.
    pub max: f64,
    /// The value when none is given.
    pub default: f64,
    /// What it does, with its unit.
    pub description: &'static str,
}

/// A filter, for discovery.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterSpec {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its parameters.
    pub params: Vec<ParamSpec>,
}

/// Every filter with its parameters, ranges and defaults.
pub fn filters() -> Vec<FilterSpec> {
    let param = |name, min, max, default, description| ParamSpec {
        name,
        min,
        max,
        default,
        description,
    };
    vec![
        FilterSpec {
            name: "grayscale",
            description: "luma (ITU-R BT.709 weights, as the image crate computes it)",
            params: vec![],
        },
        FilterSpec {
            name: "gaussian_blur",
            description: "Gaussian blur (imageproc::filter::gaussian_blur_f32)",
            params: vec![param("sigma", 0.1, 50.0, 2.0, "standard deviation, pixels")],
        },
        FilterSpec {
            name: "edges",
            description: "Canny edges (Canny 1986), white on black (imageproc::edges::canny)",
            params: vec![
                param(
                    "low",
                    0.0,
                    1140.0,
                    50.0,
                    "low hysteresis threshold, gradient magnitude",
                ),
                param(
                    "high",
                    0.0,
                    1140.0,
                    100.0,
                    "high hysteresis threshold, gradient magnitude (>= low)",
                ),
            ],
        },
        FilterSpec {
            name: "sobel",
            description: "Sobel gradient magnitude, clamped to 255 (imageproc::gradients::sobel_gradients)",
            params: vec![],
        },
        FilterSpec {
            name: "invert",
            description: "negative: every channel c becomes 255 - c",
            params: vec![],
        },
        FilterSpec {
            name: "resize",
            description: "resize to exactly width x height (bilinear)",
            params: vec![
                param("width", 1.0, 7680.0, 320.0, "output width, pixels"),
                param("height", 1.0, 4320.0, 240.0, "output height, pixels"),
            ],
        },
        FilterSpec {
            name: "motion",
            description: "what changed since the previous frame of the stream: white where the gray level moved by more than threshold (the first frame is all black)",
            params: vec![param("threshold", 0.0, 255.0, 25.0, "gray levels")],
        },
    ]
}

/// A filter with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Filter {
    /// Luma.
    Grayscale,
    /// Gaussian blur.
    GaussianBlur {
        /// Standard deviation, pixels (> 0).
        sigma: f32,
    },
    /// Canny edges (J. Canny, "A Computational Approach to Edge Detection", IEEE PAMI
    /// 1986), as imageproc computes them.
    Canny {
        /// Low hysteresis threshold, gradient magnitude.
        low: f32,
        /// High hysteresis threshold, gradient magnitude (>= low).
        high: f32,
    },
    /// Sobel gradient magnitude.
    Sobel,
    /// Negative.
    Invert,
    /// Resize to exactly this size.
    Resize {
        /// Output width, pixels.
        width: u32,
        /// Output height, pixels.
        height: u32,
    },
    /// Difference with the previous frame.
    Motion {
        /// Gray levels a pixel must move by to count as motion.
        threshold: u8,
    },
}

/// Why a filter configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// The field at fault: `"filter"` or `"params"`.
    pub field: &'static str,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

/// The filter `name` with `params` (missing ones take their defaults).
///
/// # Errors
/// [`FilterError`] for an unknown filter, an unknown parameter, or a value out of range.
pub fn parse_filter(name: &str, params: &BTreeMap<String, f64>) -> Result<Filter, FilterError> {
    let specs = filters();
    let spec = specs
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| FilterError {
            field: "filter",
            message: format!(
                "unknown filter {name:?}; the filters are: {}",
                specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            ),
        })?;
    for key in params.keys() {
        if !spec.params.iter().any(|p| p.name == key) {
            return Err(FilterError {
                field: "params",
                message: format!("filter {name} has no parameter {key:?}"),
            });
        }
    }
    let value = |p: &str| -> Result<f64, FilterError> {
        let spec = spec
            .params
            .iter()
            .find(|s| s.name == p)
            .expect("declared above");
        let v = params.get(p).copied().unwrap_or(spec.default);
        if !(spec.min..=spec.max).contains(&v) {
            return Err(FilterError {
                field: "params",
                message: format!(
                    "{name}.{p} is {v}; it must be {} to {} ({})",
                    spec.min, spec.max, spec.description
                ),
            });
        }
        Ok(v)
    };
    Ok(match name {
        "grayscale" => Filter::Grayscale,
        "gaussian_blur" => Filter::GaussianBlur {
            sigma: value("sigma")? as f32,
        },
        "edges" => {
            let (low, high) = (value("low")?, value("high")?);
            if low > high {
                return Err(FilterError {
                    field: "params",
                    message: format!("edges.low ({low}) must not exceed edges.high ({high})"),
                });
            }
            Filter::Canny {
                low: low as f32,
                high: high as f32,
            }
        }
        "sobel" => Filter::Sobel,
        "invert" => Filter::Invert,
        "resize" => Filter::Resize {
            width: value("width")? as u32,
            height: value("height")? as u32,
        },
        "motion" => Filter::Motion {
            threshold: value("threshold")? as u8,
        },
        _ => unreachable!("every spec has a case"),
    })
}

impl Filter {
    /// True when a frame's result depends on the frames before it (motion): such a
    /// stream must be processed one frame at a time, in order. Every other filter
    /// works on each frame alone, so frames may be processed in parallel.
    pub fn is_sequential(&self) -> bool {
        matches!(self, Filter::Motion { .. })
    }

    /// Checks that the filter's output fits `limits` (a resize may ask for more pixels
    /// than a frame may have).
    ///
    /// # Errors
    /// [`FilterError`] on `params` when the output would be over `limits.max_pixels`.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), FilterError> {
        if let Filter::Resize { width, height } = *self {
            let pixels = u64::from(width) * u64::from(height);
            if pixels > limits.max_pixels {
                return Err(FilterError {
                    field: "params",
                    message: format!(
                        "resize to {width} x {height} = {pixels} pixels; frames may have at most {}",
                        limits.max_pixels
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The encoding of a processed frame: `requested` when given; otherwise the input's
/// own encoding (JPEG stays JPEG, PNG stays PNG), and for a raw input, [`Encoding::Gray8`]
/// when the processed picture is gray and [`Encoding::Rgb8`] when it has colour.
pub fn output_encoding(
    requested: Option<Encoding>,
    input: Encoding,
    processed: &DynamicImage,
) -> Encoding {
    match (requested, input) {
        (Some(encoding), _) => encoding,
        (None, Encoding::Jpeg | Encoding::Png) => input,
        (None, Encoding::Gray8 | Encoding::Rgb8) => {
            if processed.color().has_color() {
                Encoding::Rgb8
            } else {
                Encoding::Gray8
            }
        }
    }
}

/// Applies one filter to the frames of one stream, in order.
#[derive(Debug, Clone)]
pub struct Processor {
    filter: Filter,
    /// The previous frame in gray, for the motion filter.
    previous: Option<GrayImage>,
}

impl Processor {
    /// A processor for a new stream.
    pub fn new(filter: Filter) -> Self {
        Self {
            filter,
            previous: None,
        }
    }

    /// The filter applied to `picture`.
    pub fn process(&mut self, picture: &DynamicImage) -> DynamicImage {
        match self.filter {
            Filter::Grayscale => DynamicImage::ImageLuma8(picture.to_luma8()),
            Filter::GaussianBlur { sigma } => match picture {
                DynamicImage::ImageLuma8(gray) => {
                    DynamicImage::ImageLuma8(imageproc::filter::gaussian_blur_f32(gray, sigma))
                }
                other => DynamicImage::ImageRgb8(imageproc::filter::gaussian_blur_f32(
                    &other.to_rgb8(),
                    sigma,
                )),
            },
            Filter::Canny { low, high } => {
                DynamicImage::ImageLuma8(imageproc::edges::canny(&picture.to_luma8(), low, high))
            }
            Filter::Sobel => {
                let gradients = imageproc::gradients::sobel_gradients(&picture.to_luma8());
                let magnitude =
                    GrayImage::from_fn(gradients.width(), gradients.height(), |x, y| {
                        image::Luma([gradients.get_pixel(x, y)[0].min(255) as u8])
                    });
                DynamicImage::ImageLuma8(magnitude)
            }
            Filter::Invert => {
                let mut inverted = picture.clone();
                inverted.invert();
                inverted
            }
            Filter::Resize { width, height } => {
                picture.resize_exact(width, height, FilterType::Triangle)
            }
            Filter::Motion { threshold } => {
                let gray = picture.to_luma8();
                let moved = match &self.previous {
                    Some(previous) if previous.dimensions() == gray.dimensions() => {
                        GrayImage::from_fn(gray.width(), gray.height(), |x, y| {
                            let diff =
                                gray.get_pixel(x, y)[0].abs_diff(previous.get_pixel(x, y)[0]);
                            image::Luma([if diff > threshold { 255 } else { 0 }])
                        })
                    }
                    // The first frame, or a change of size: nothing to compare with.
                    _ => GrayImage::new(gray.width(), gray.height()),
                };
                self.previous = Some(gray);
                DynamicImage::ImageLuma8(moved)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, 128])
        })
    }

    fn frame_of(picture: &DynamicImage, encoding: Encoding) -> Frame {
        Frame {
            width: picture.width(),
            height: picture.height(),
            encoding,
            data: encode(picture, encoding, 90).unwrap(),
        }
    }

    #[test]
    fn every_encoding_round_trips() {
        let picture = DynamicImage::ImageRgb8(gradient(24, 16));
        for encoding in [Encoding::Png, Encoding::Rgb8] {
            let decoded = decode(frame_of(&picture, encoding), &Limits::default()).unwrap();
            assert_eq!(
                decoded.to_rgb8(),
                picture.to_rgb8(),
                "{encoding:?} is lossless"
            );
        }
        let gray = decode(frame_of(&picture, Encoding::Gray8), &Limits::default()).unwrap();
        assert_eq!(gray.to_luma8(), picture.to_luma8());
        let jpeg = decode(frame_of(&picture, Encoding::Jpeg), &Limits::default()).unwrap();
        assert_eq!(jpeg.dimensions_tuple(), (24, 16));
    }

    trait Dims {
        fn dimensions_tuple(&self) -> (u32, u32);
    }
    impl Dims for DynamicImage {
        fn dimensions_tuple(&self) -> (u32, u32) {
            (self.width(), self.height())
        }
    }

    #[test]
    fn bad_frames_are_refused() {
        let limits = Limits {
            max_pixels: 10_000,
            max_bytes: 100_000,
        };
        let raw = |width, height, len, encoding| Frame {
            width,
            height,
            encoding,
            data: vec![0; len],
        };
        assert_eq!(
            decode(raw(0, 10, 0, Encoding::Gray8), &limits),
            Err(FrameError::EmptyPicture)
        );
        assert_eq!(
            decode(raw(10, 10, 99, Encoding::Gray8), &limits),
            Err(FrameError::WrongLength {
                len: 99,
                expected: 100
            })
        );
        assert_eq!(
            decode(raw(10, 10, 100, Encoding::Rgb8), &limits),
            Err(FrameError::WrongLength {
                len: 100,
                expected: 300
            })
        );
        assert!(
            decode(raw(200, 100, 20_000, Encoding::Gray8), &limits)
                .unwrap_err()
                .is_size_limit()
        );
        assert!(
            decode(raw(10, 10, 200_000, Encoding::Gray8), &limits)
                .unwrap_err()
                .is_size_limit()
        );
        let garbage = Frame {
            width: 1,
            height: 1,
            encoding: Encoding::Jpeg,
            data: b"not a jpeg".to_vec(),
        };
        assert!(matches!(
            decode(garbage, &limits),
            Err(FrameError::Undecodable(_))
        ));
    }

    /// CRC-32 (ISO 3309, the polynomial of PNG chunks), bit by bit.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        // A 20,000 x 20,000 PNG of one color compresses to a few hundred kilobytes but
        // would decode to 400 megapixels. Build a small one and patch its header's size:
        // the refusal must come from the header, whatever the pixel data.
        let small = DynamicImage::ImageLuma8(GrayImage::new(8, 8));
        let mut png = encode(&small, Encoding::Png, 90).unwrap();
        // IHDR width and height are the 4-byte big-endian fields at bytes 16 and 20.
        png[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        // The IHDR chunk's CRC-32 (over its type and data, bytes 12..29) sits at 29..33.
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let frame = Frame {
            width: 8,
            height: 8,
            encoding: Encoding::Png,
            data: png,
        };
        let err = decode(frame, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooManyPixels {
                pixels: 400_000_000,
                max: 3840 * 2160
            }
        );
    }

    #[test]
    fn filters_match_the_libraries_and_known_pixels() {
        let rgb = DynamicImage::ImageRgb8(gradient(32, 24));
        let run = |filter| Processor::new(filter).process(&rgb);
        assert_eq!(run(Filter::Grayscale).to_luma8(), rgb.to_luma8());
        let inverted = run(Filter::Invert).to_rgb8();
        assert_eq!(inverted.get_pixel(3, 2).0, [255 - 24, 255 - 16, 127]);
        assert_eq!(
            run(Filter::GaussianBlur { sigma: 1.5 }).to_rgb8(),
            imageproc::filter::gaussian_blur_f32(&rgb.to_rgb8(), 1.5)
        );
        assert_eq!(
            run(Filter::Canny {
                low: 10.0,
                high: 30.0
            })
            .to_luma8(),
            imageproc::edges::canny(&rgb.to_luma8(), 10.0, 30.0)
        );
        let resized = run(Filter::Resize {
            width: 8,
            height: 6,
        });
        assert_eq!((resized.width(), resized.height()), (8, 6));
        // Sobel on a flat picture is zero everywhere.
        let flat = DynamicImage::ImageLuma8(GrayImage::from_pixel(16, 16, image::Luma([90])));
        let sobel = Processor::new(Filter::Sobel).process(&flat).to_luma8();
        assert!(sobel.pixels().all(|p| p[0] == 0));
    }

    #[test]
    fn motion_shows_what_changed_since_the_previous_frame() {
        let mut motion = Processor::new(Filter::Motion { threshold: 25 });
        let still = GrayImage::from_pixel(10, 10, image::Luma([100]));
        let mut moved = still.clone();
        moved.put_pixel(4, 5, image::Luma([200]));
        moved.put_pixel(6, 6, image::Luma([110])); // below the threshold
        let first = motion
            .process(&DynamicImage::ImageLuma8(still.clone()))
            .to_luma8();
        assert!(
            first.pixels().all(|p| p[0] == 0),
            "nothing to compare the first frame with"
        );
        let second = motion.process(&DynamicImage::ImageLuma8(moved)).to_luma8();
        let white: Vec<_> = second
            .enumerate_pixels()
            .filter(|(_, _, p)| p[0] == 255)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert_eq!(white, [(4, 5)]);
    }

    #[test]
    fn output_encoding_follows_the_input_unless_asked() {
        let gray = DynamicImage::ImageLuma8(GrayImage::new(2, 2));
        let rgb = DynamicImage::ImageRgb8(RgbImage::new(2, 2));
        assert_eq!(
            output_encoding(None, Encoding::Rgb8, &gray),
            Encoding::Gray8
        );
        assert_eq!(output_encoding(None, Encoding::Gray8, &rgb), Encoding::Rgb8);
        assert_eq!(output_encoding(None, Encoding::Jpeg, &gray), Encoding::Jpeg);
        assert_eq!(
            output_encoding(Some(Encoding::Png), Encoding::Rgb8, &gray),
            Encoding::Png
        );
        let limits = Limits::default();
        assert!(
            Filter::Resize {
                width: 3840,
                height: 2160
            }
            .check_limits(&limits)
            .is_ok()
        );
        let err = Filter::Resize {
            width: 7680,
            height: 4320,
        }
        .check_limits(&limits)
        .unwrap_err();
        assert_eq!(err.field, "params");
        assert!(err.message.contains("33177600 pixels"), "{err}");
        assert!(Filter::Motion { threshold: 1 }.is_sequential());
        assert!(!Filter::Sobel.is_sequential());
    }

    #[test]
    fn filter_configuration_is_checked() {
        let none = BTreeMap::new();
        assert_eq!(parse_filter("invert", &none), Ok(Filter::Invert));
        assert_eq!(
            parse_filter("gaussian_blur", &none),
            Ok(Filter::GaussianBlur { sigma: 2.0 })
        );
        let err = parse_filter("sepia", &none).unwrap_err();
        assert_eq!(err.field, "filter");
        assert!(err.message.contains("grayscale, gaussian_blur"), "{err}");
        let params = |k: &str, v: f64| BTreeMap::from([(k.to_owned(), v)]);
        assert_eq!(
            parse_filter("gaussian_blur", &params("sigma", 0.0))
                .unwrap_err()
                .field,
            "params"
        );
        assert_eq!(
            parse_filter("resize", &params("width", 100_000.0))
                .unwrap_err()
                .field,
            "params"
        );
        assert_eq!(
            parse_filter("invert", &params("strength", 1.0))
                .unwrap_err()
                .field,
            "params"
        );
        let canny = BTreeMap::from([("low".to_owned(), 90.0), ("high".to_owned(), 10.0)]);
        assert!(
            parse_filter("edges", &canny)
                .unwrap_err()
                .message
                .contains("must not exceed")
        );
        // Every declared default is accepted.
        for spec in filters() {
            assert!(parse_filter(spec.name, &none).is_ok(), "{}", spec.name);
        }
    }
}
