//! How much memory processing one frame holds at its peak, known before any pixel is
//! decoded, so that a stream can reserve it from its budget
//! ([`crate::domain::budget`]) first.

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

use super::{Encoding, Filter, Frame, FrameError, Limits, frame::check_pixels};

/// The most bytes per pixel of a decoded or processed picture: RGBA8 (a PNG with
/// alpha); JPEG and raw frames decode to RGB8 or gray.
const MAX_BYTES_PER_PIXEL: u64 = 4;

/// The width and height of `frame`'s picture: its own fields for raw frames, the
/// file's header for JPEG and PNG (read without decoding any pixel).
///
/// # Errors
/// [`FrameError::Undecodable`] when a JPEG or PNG header cannot be read.
pub fn dimensions(frame: &Frame) -> Result<(u32, u32), FrameError> {
    let format = match frame.encoding {
        Encoding::Gray8 | Encoding::Rgb8 => return Ok((frame.width, frame.height)),
        Encoding::Jpeg => ImageFormat::Jpeg,
        Encoding::Png => ImageFormat::Png,
    };
    ImageReader::with_format(Cursor::new(&frame.data), format)
        .into_dimensions()
        .map_err(|err| FrameError::Undecodable(err.to_string()))
}

/// The most bytes that processing `frame` with `filter` holds at once: the frame's own
/// bytes, its decoded picture (none for a raw frame, whose bytes become the picture),
/// the processed picture, and the encoded output (the decoded picture is dropped
/// before encoding, so the larger of input + processed and processed + output).
///
/// An upper bound: pictures are counted at 4 bytes per pixel for PNG input (which may
/// have alpha), 3 otherwise; outputs as raw or larger.
///
/// # Errors
/// As [`dimensions`]; and, as [`super::decode`] would, a frame over `limits` (so that a
/// decompression bomb is refused as one).
pub fn peak_bytes(frame: &Frame, filter: &Filter, limits: &Limits) -> Result<u64, FrameError> {
    if frame.data.len() > limits.max_bytes {
        return Err(FrameError::TooManyBytes {
            bytes: frame.data.len(),
            max: limits.max_bytes,
        });
    }
    let (width, height) = dimensions(frame)?;
    check_pixels(width, height, limits)?;
    let in_pixels = u64::from(width) * u64::from(height);
    let per_pixel = if frame.encoding == Encoding::Png {
        MAX_BYTES_PER_PIXEL
    } else {
        3
    };
    let decoded = match frame.encoding {
        Encoding::Gray8 | Encoding::Rgb8 => 0,
        Encoding::Jpeg | Encoding::Png => in_pixels * per_pixel,
    };
    let input = frame.data.len() as u64 + decoded;
    let processed = output_pixels(filter, in_pixels) * per_pixel;
    Ok(input.max(processed) + processed)
}

/// The bytes of the largest output frame `filter` can produce at all, when its output
/// size does not depend on the input (resize), as raw RGB8; `None` otherwise.
pub fn fixed_output_bytes(filter: &Filter) -> Option<u64> {
    match *filter {
        Filter::Resize { width, height } => Some(u64::from(width) * u64::from(height) * 3),
        _ => None,
    }
}

/// The pixels of the output of `filter` on a picture of `in_pixels`.
fn output_pixels(filter: &Filter, in_pixels: u64) -> u64 {
    match *filter {
        Filter::Resize { width, height } => u64::from(width) * u64::from(height),
        _ => in_pixels,
    }
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, RgbImage};

    use super::*;

    fn raw(width: u32, height: u32) -> Frame {
        Frame {
            width,
            height,
            encoding: Encoding::Rgb8,
            data: vec![0; (width * height * 3) as usize],
        }
    }

    #[test]
    fn a_raw_frame_counts_its_bytes_and_its_output_twice() {
        let frame = raw(4, 2);
        // 24 bytes in, 24 processed, 24 encoded.
        assert_eq!(
            peak_bytes(&frame, &Filter::Invert, &Limits::default()).unwrap(),
            48
        );
        // Upscaling: the output dominates.
        let resize = Filter::Resize {
            width: 100,
            height: 10,
        };
        assert_eq!(
            peak_bytes(&frame, &resize, &Limits::default()).unwrap(),
            6000
        );
        assert_eq!(fixed_output_bytes(&resize), Some(3000));
        assert_eq!(fixed_output_bytes(&Filter::Sobel), None);
    }

    #[test]
    fn an_encoded_frame_counts_its_decoded_size_from_the_header() {
        let mut data = Vec::new();
        DynamicImage::ImageRgb8(RgbImage::new(40, 30))
            .write_to(&mut Cursor::new(&mut data), ImageFormat::Png)
            .unwrap();
        let len = data.len() as u64;
        let frame = Frame {
            width: 0,
            height: 0,
            encoding: Encoding::Png,
            data,
        };
        assert_eq!(dimensions(&frame).unwrap(), (40, 30));
        let pictures = 40 * 30 * MAX_BYTES_PER_PIXEL;
        assert_eq!(
            peak_bytes(&frame, &Filter::Sobel, &Limits::default()).unwrap(),
            len + pictures + pictures
        );
        let junk = Frame {
            data: b"not a png".to_vec(),
            ..frame
        };
        assert!(matches!(
            peak_bytes(&junk, &Filter::Sobel, &Limits::default()),
            Err(FrameError::Undecodable(_))
        ));
    }

    #[test]
    fn a_frame_over_the_limits_is_refused_before_its_peak_is_counted() {
        let limits = Limits {
            max_pixels: 10,
            max_bytes: 100,
        };
        assert!(matches!(
            peak_bytes(&raw(4, 3), &Filter::Invert, &limits),
            Err(FrameError::TooManyPixels { pixels: 12, .. })
        ));
        assert!(matches!(
            peak_bytes(&raw(8, 8), &Filter::Invert, &limits),
            Err(FrameError::TooManyBytes { bytes: 192, .. })
        ));
    }
}
