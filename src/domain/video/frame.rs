//! Frames: how a picture travels ([`Frame`], [`Encoding`]), the size limits checked
//! before any pixel is decoded ([`Limits`]), and decoding and encoding.

use std::{fmt, io::Cursor};

use image::{DynamicImage, GrayImage, ImageFormat, ImageReader, RgbImage};

use super::Filter;

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

pub(super) fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), FrameError> {
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
    check_bytes(&frame, limits)?;
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
            check_header(&frame, limits)?;
            ImageReader::with_format(Cursor::new(&frame.data), format)
                .decode()
                .map_err(|err| FrameError::Undecodable(err.to_string()))
        }
    }
}

/// [`decode`], but a JPEG frame for a filter that works in gray
/// ([`Filter::works_in_gray`]) is decoded to its luma plane alone, which takes about a
/// third less time. That luma is the file's own Y channel, BT.601 weights as JPEG
/// stores it, where a raw or PNG frame's gray is its BT.709 luma.
///
/// # Errors
/// As [`decode`].
pub fn decode_for(
    frame: Frame,
    limits: &Limits,
    filter: &Filter,
) -> Result<DynamicImage, FrameError> {
    if frame.encoding == Encoding::Jpeg && filter.works_in_gray() {
        check_bytes(&frame, limits)?;
        check_header(&frame, limits)?;
        // A file the luma decoder refuses goes to the full decoder, whose error (or
        // picture) is the answer.
        if let Ok(gray) = super::jpeg::decode_luma(&frame.data) {
            return Ok(DynamicImage::ImageLuma8(gray));
        }
    }
    decode(frame, limits)
}

/// TooManyBytes when `frame`'s data is over the limit.
pub(super) fn check_bytes(frame: &Frame, limits: &Limits) -> Result<(), FrameError> {
    if frame.data.len() > limits.max_bytes {
        return Err(FrameError::TooManyBytes {
            bytes: frame.data.len(),
            max: limits.max_bytes,
        });
    }
    Ok(())
}

/// Refuses a JPEG or PNG frame over the pixel limit from its header alone, before any
/// pixel is decoded (a decompression bomb).
pub(super) fn check_header(frame: &Frame, limits: &Limits) -> Result<(), FrameError> {
    let (width, height) = super::memory::dimensions(frame)?;
    check_pixels(width, height, limits)
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
        Encoding::Jpeg => out = super::jpeg::encode(picture, jpeg_quality)?,
    }
    Ok(out)
}

/// [`encode`] for a picture the caller is done with: raw [`Encoding::Gray8`] and
/// [`Encoding::Rgb8`] output take the picture's own pixel buffer when it already has
/// that layout, instead of copying it (a 1280 x 720 RGB frame is 2.7 MB).
///
/// # Errors
/// As [`encode`].
pub fn encode_owned(
    picture: DynamicImage,
    encoding: Encoding,
    jpeg_quality: u8,
) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Gray8 => Ok(picture.into_luma8().into_raw()),
        Encoding::Rgb8 => Ok(picture.into_rgb8().into_raw()),
        Encoding::Png | Encoding::Jpeg => encode(&picture, encoding, jpeg_quality),
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

    #[test]
    fn encoding_an_owned_picture_gives_the_same_bytes() {
        let rgb = DynamicImage::ImageRgb8(gradient(24, 16));
        let gray = DynamicImage::ImageLuma8(rgb.to_luma8());
        for picture in [rgb, gray] {
            for encoding in [
                Encoding::Gray8,
                Encoding::Rgb8,
                Encoding::Png,
                Encoding::Jpeg,
            ] {
                assert_eq!(
                    encode_owned(picture.clone(), encoding, 85).unwrap(),
                    encode(&picture, encoding, 85).unwrap(),
                    "{encoding:?} from {:?}",
                    picture.color()
                );
            }
        }
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
    }
}
