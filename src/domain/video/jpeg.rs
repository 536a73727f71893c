//! The JPEG codecs of the video service, both pure Rust:
//! - encoding with rusty_jpeg 0.4 (a fork of jpeg-encoder 0.7 with AVX2 forward DCT
//!   and quantization, detected at run time): 1.5 to 1.7x faster than jpeg-encoder 0.6
//!   on 640 x 480 and 1280 x 720 frames at quality 85, at the same file size;
//! - decoding a frame's luma plane alone with zune-jpeg 0.5 (the decoder the image crate
//!   uses for JPEG), for the filters that work in gray: it skips the colour planes'
//!   inverse DCT, upsampling and colour conversion, 35% less time than decoding RGB.

use image::{DynamicImage, GrayImage};
use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};

/// `picture` as a baseline JPEG at `quality` (1 to 100): 4:2:0 chroma below 90, none
/// from 90 (rusty_jpeg's defaults, as jpeg-encoder's); gray stays one channel, and
/// anything else is encoded as RGB (JPEG has no alpha).
///
/// # Errors
/// A message when a side is over 65,535 pixels (JPEG's limit) or the encoder fails.
pub(super) fn encode(picture: &DynamicImage, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let encoder = rusty_jpeg::Encoder::new(&mut out, quality.clamp(1, 100));
    let (width, height) = (
        u16::try_from(picture.width()).map_err(|_| "JPEG is at most 65535 wide")?,
        u16::try_from(picture.height()).map_err(|_| "JPEG is at most 65535 high")?,
    );
    match picture {
        DynamicImage::ImageLuma8(gray) => encoder.encode_image(GrayRows {
            pixels: gray,
            width,
            height,
        }),
        DynamicImage::ImageRgb8(rgb) => {
            encoder.encode(rgb, width, height, rusty_jpeg::ColorType::Rgb)
        }
        other => encoder.encode(&other.to_rgb8(), width, height, rusty_jpeg::ColorType::Rgb),
    }
    .map_err(|err| err.to_string())?;
    Ok(out)
}

/// A gray picture as the encoder's input, a row at a time.
///
/// rusty_jpeg 0.4.8's own gray input (`ColorType::Luma`) pushes a row into the block
/// buffer one byte at a time, which perf put at 11% of a 1280 x 720 edges frame; this one
/// copies each row with `extend_from_slice`.
struct GrayRows<'a> {
    /// `width` x `height` bytes, row after row.
    pixels: &'a [u8],
    width: u16,
    height: u16,
}

impl rusty_jpeg::encode::ImageBuffer for GrayRows<'_> {
    fn get_jpeg_color_type(&self) -> rusty_jpeg::JpegColorType {
        rusty_jpeg::JpegColorType::Luma
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let width = usize::from(self.width);
        let start = usize::from(y) * width;
        buffers[0].extend_from_slice(&self.pixels[start..start + width]);
    }
}

/// The luma of a JPEG file: its Y plane as stored (a colour JPEG's Y is the BT.601 luma
/// of the encoder's RGB), or its one channel for a gray JPEG.
///
/// # Errors
/// zune-jpeg's message when the file does not decode.
pub(super) fn decode_luma(data: &[u8]) -> Result<GrayImage, String> {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
    let pixels = decoder.decode().map_err(|err| err.to_string())?;
    let (width, height) = decoder
        .dimensions()
        .ok_or("the JPEG has no dimensions after decoding")?;
    GrayImage::from_raw(width as u32, height as u32, pixels)
        .ok_or_else(|| "the luma plane is not width x height bytes".to_owned())
}

#[cfg(test)]
mod tests {
    use image::{ImageFormat, RgbImage};

    use super::*;

    fn photo_like(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y) * 3 % 256) as u8,
            ])
        })
    }

    #[test]
    fn encoded_frames_decode_to_the_same_size_and_close_pixels() {
        for (width, height) in [(1, 1), (1, 7), (7, 1), (17, 9), (64, 48)] {
            let picture = DynamicImage::ImageRgb8(photo_like(width, height));
            let jpeg = encode(&picture, 95).unwrap();
            let decoded = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg)
                .unwrap()
                .to_rgb8();
            assert_eq!(decoded.dimensions(), (width, height));
            let gray = DynamicImage::ImageLuma8(picture.to_luma8());
            let back = image::load_from_memory(&encode(&gray, 95).unwrap()).unwrap();
            assert_eq!(back.color(), image::ColorType::L8, "gray stays one channel");
        }
    }

    #[test]
    fn gray_rows_encode_to_the_same_file_as_the_encoders_own_gray_input() {
        for (width, height) in [(1, 1), (1, 9), (9, 1), (17, 9), (64, 48)] {
            let gray = DynamicImage::ImageRgb8(photo_like(width, height)).to_luma8();
            let mut expected = Vec::new();
            rusty_jpeg::Encoder::new(&mut expected, 85)
                .encode(
                    &gray,
                    width as u16,
                    height as u16,
                    rusty_jpeg::ColorType::Luma,
                )
                .unwrap();
            let ours = encode(&DynamicImage::ImageLuma8(gray), 85).unwrap();
            assert_eq!(ours, expected, "{width} x {height}");
        }
    }

    #[test]
    fn the_luma_plane_is_the_bt601_luma_of_the_decoded_colours() {
        let picture = DynamicImage::ImageRgb8(photo_like(64, 48));
        let jpeg = encode(&picture, 95).unwrap();
        let luma = decode_luma(&jpeg).unwrap();
        assert_eq!(luma.dimensions(), (64, 48));
        let rgb = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        // Y = 0.299 R + 0.587 G + 0.114 B (JFIF), to within the rounding of the two
        // decoders' colour conversions.
        let worst = rgb
            .pixels()
            .zip(luma.iter())
            .map(|(p, y)| {
                let [r, g, b] = p.0.map(f64::from);
                (0.299 * r + 0.587 * g + 0.114 * b - f64::from(*y)).abs()
            })
            .fold(0.0, f64::max);
        assert!(worst <= 3.0, "worst difference {worst}");
        assert!(decode_luma(b"not a jpeg").is_err());
    }
}
