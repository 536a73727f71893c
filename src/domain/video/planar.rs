//! Colour filters on JPEG frames without leaving Y'CbCr: a JPEG in, the same filter,
//! a JPEG out, for the filters that act on each colour plane alike (Gaussian blur,
//! resize).
//!
//! A JPEG stores its picture as three planes, luma (Y) at full size and the two chroma
//! planes (Cb, Cr) at full size (4:4:4) or at half the width and height (4:2:0). The
//! general path decodes them to RGB (upsampling the chroma, converting colour), filters
//! RGB, and the encoder converts back and subsamples again. Both filters here are
//! linear and act on each channel alike, and Y'CbCr is a linear (affine) function of
//! RGB, so filtering the planes as stored gives the same picture up to rounding, with
//! neither conversion and, for 4:2:0, a quarter of the chroma samples to filter:
//! - blur: Y with σ; the chroma planes with σ / s, s being the subsampling (2 for
//!   4:2:0), since a chroma sample spans s pixels;
//! - resize to W x H: Y to W x H, the chroma planes to W / s x H / s.
//!
//! The output has the chroma subsampling the encoder picks for the requested quality
//! (4:2:0 below 90, 4:4:4 from 90; [`super::jpeg::encode`]), as on the general path. A
//! 4:4:4 input for a 4:2:0 output has its chroma planes halved (each sample the mean of
//! 2 x 2, as the encoder would do it), before a blur and after a resize. The path is taken for an 8-bit Y'CbCr
//! JPEG at 4:4:4 or 4:2:0, unless the output is 4:4:4 and the input 4:2:0, and for
//! resize when the output subsampling divides the output size. Anything else, or a file
//! this decoder refuses, goes the general way. Decoding and encoding are rusty_jpeg's
//! (its planar decoder and planar encoder input).
//!
//! Tolerance, against the general path on the same input (tests below): the output is
//! as close to the exactly filtered picture as the general path's output is, within 0.4
//! gray level on average (JPEG's own loss at quality 85 is 0.5 to 2 levels there), and
//! the two outputs are as close to each other, within 0.4, as the general path's output
//! is to the exact picture.

use fast_image_resize::PixelType;

use super::{
    Encoding, Filter, Frame, FrameError, Limits,
    frame::{check_bytes, check_header},
    kernels,
    processor::resize_pixels,
};

/// A frame filtered on the JPEG path: the output picture's size and its JPEG bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// Output width, pixels.
    pub width: u32,
    /// Output height, pixels.
    pub height: u32,
    /// The output picture, a baseline JPEG.
    pub jpeg: Vec<u8>,
}

/// `frame` (a JPEG) through `filter`, encoded as JPEG at `quality` (1 to 100), on the
/// Y'CbCr planes as the module documentation says; `None` when that path does not
/// apply (another encoding or filter, another colour space or subsampling, a file it
/// cannot decode), and the caller takes the general one.
///
/// # Errors
/// As [`super::decode`], for a frame over `limits`: checked from the header before any
/// pixel is decoded.
pub fn filter_jpeg(
    frame: &Frame,
    filter: &Filter,
    limits: &Limits,
    quality: u8,
) -> Option<Result<Filtered, FrameError>> {
    if frame.encoding != Encoding::Jpeg
        || !matches!(filter, Filter::GaussianBlur { .. } | Filter::Resize { .. })
    {
        return None;
    }
    if let Err(err) = check_bytes(frame, limits).and_then(|()| check_header(frame, limits)) {
        return Some(Err(err));
    }
    let input = ycbcr_subsampling(&frame.data)?;
    // The encoder's choice for `quality` (rusty_jpeg 0.4.8's `Encoder::new`).
    let output = if quality < 90 { 2 } else { 1 };
    if input > output {
        return None; // 4:2:0 in, 4:4:4 out: the chroma would have to be upsampled.
    }
    if let Filter::Resize { width, height } = *filter
        && (width % output as u32 != 0 || height % output as u32 != 0)
    {
        return None;
    }
    let planes = decode(&frame.data, input)?;
    // 4:4:4 in, 4:2:0 out: the chroma is halved before a blur (a quarter of the work)
    // but after a resize, as the general path's encoder does it (halving first, a
    // shrink by more than 2 would take one chroma sample where the encoder averages 4).
    let halve = |planes: Planes| {
        if input < output {
            planes.chroma_halved()
        } else {
            planes
        }
    };
    let filtered = match *filter {
        Filter::GaussianBlur { sigma } => halve(planes).map(|plane, s| Plane {
            data: kernels::gaussian_blur(&plane.data, plane.width, plane.height, 1, sigma / s),
            ..plane
        }),
        Filter::Resize { width, height } => {
            let (width, height) = (width as usize, height as usize);
            halve(planes.map(|plane, s| {
                let to = (width / s as usize, height / s as usize);
                Plane {
                    data: resize_pixels(
                        &plane.data,
                        (plane.width as u32, plane.height as u32),
                        (to.0 as u32, to.1 as u32),
                        PixelType::U8,
                    ),
                    width: to.0,
                    height: to.1,
                }
            }))
        }
        _ => unreachable!("only blur and resize come this way, checked above"),
    };
    Some(Ok(encode(&filtered, quality)?))
}

/// One plane, packed: `width` x `height` bytes, row by row.
#[derive(Debug, Clone)]
struct Plane {
    data: Vec<u8>,
    width: usize,
    height: usize,
}

/// Y, Cb, Cr, and how many luma samples one chroma sample spans each way (1 or 2).
#[derive(Debug, Clone)]
struct Planes {
    planes: [Plane; 3],
    subsampling: usize,
}

impl Planes {
    /// Each plane through `f`, given the plane and its sampling step in luma pixels
    /// (1 for Y; the subsampling for the chroma).
    fn map(self, f: impl Fn(Plane, f32) -> Plane) -> Planes {
        let s = self.subsampling as f32;
        let [y, cb, cr] = self.planes;
        Planes {
            planes: [f(y, 1.0), f(cb, s), f(cr, s)],
            subsampling: self.subsampling,
        }
    }
}

impl Planes {
    /// 4:4:4 planes as 4:2:0: each chroma sample the mean of 2 x 2, rounded (the last
    /// column or row of an odd side with itself), as the encoder would subsample them.
    fn chroma_halved(self) -> Planes {
        let [y, cb, cr] = self.planes;
        Planes {
            planes: [y, halved(&cb), halved(&cr)],
            subsampling: 2,
        }
    }
}

/// `plane` at half its width and height (rounded up), each sample the rounded mean of
/// the 2 x 2 it covers; at an odd side's end, the last column or row counts twice.
fn halved(plane: &Plane) -> Plane {
    let (width, height) = (plane.width.div_ceil(2), plane.height.div_ceil(2));
    let mut data = Vec::with_capacity(width * height);
    let row = |y: usize| &plane.data[y * plane.width..(y + 1) * plane.width];
    for y in 0..height {
        let (top, bottom) = (row(2 * y), row((2 * y + 1).min(plane.height - 1)));
        let start = data.len();
        data.resize(start + width, 0);
        halve_rows(top, bottom, &mut data[start..]);
        if plane.width % 2 == 1 {
            let (t, b) = (top[plane.width - 1], bottom[plane.width - 1]);
            data[start + width - 1] = mean4(t, t, b, b);
        }
    }
    Plane {
        data,
        width,
        height,
    }
}

/// The rounded mean of four samples.
#[inline(always)]
fn mean4(a: u8, b: u8, c: u8, d: u8) -> u8 {
    ((u16::from(a) + u16::from(b) + u16::from(c) + u16::from(d) + 2) >> 2) as u8
}

kernels::simd! {
    /// `out[i]`: the mean of `top[2i..2i + 2]` and `bottom[2i..2i + 2]`, for each whole
    /// pair (`out` may be one longer, for an odd width's last sample: left as it is).
    fn halve_rows(top: &[u8], bottom: &[u8], out: &mut [u8]) {
        for ((t, b), o) in top.chunks_exact(2).zip(bottom.chunks_exact(2)).zip(out.iter_mut()) {
            *o = mean4(t[0], t[1], b[0], b[1]);
        }
    }
}

/// The chroma subsampling of a Y'CbCr JPEG from its headers: 1 (4:4:4) or 2 (4:2:0);
/// `None` for anything else (gray, RGB or CMYK components, 4:2:2, 12 bits, headers that
/// do not parse).
///
/// Three components are Y'CbCr as rusty_jpeg 0.4.8's decoder decides it
/// (`determine_color_transform`, after libjpeg): identifiers 1, 2, 3, or a JFIF file,
/// or no Adobe segment (which may say RGB). The special identifiers of RGB and big-gamut
/// files are refused.
fn ycbcr_subsampling(jpeg: &[u8]) -> Option<usize> {
    let (sof, jfif, adobe) = frame_header(jpeg)?;
    // precision, height (2), width (2), component count, then 3 bytes per component:
    // identifier, sampling factors (horizontal << 4 | vertical), quantization table.
    let [8, _, _, _, _, 3, ref components @ ..] = *sof else {
        return None;
    };
    let [id1, f1, _, id2, f2, _, id3, f3, _, ..] = *components else {
        return None;
    };
    let ycbcr = match (id1, id2, id3) {
        (1, 34, 35) | (82, 71, 66) | (114, 103, 98) => false,
        (1, 2, 3) => true,
        _ => jfif || !adobe,
    };
    match (ycbcr, f1, f2, f3) {
        (false, ..) => None,
        // The same factors everywhere (1 x 1 mostly; 1 x 2 in some files): 4:4:4.
        (true, f1, f2, f3) if f1 == f2 && f2 == f3 => Some(1),
        (true, 0x22, 0x11, 0x11) => Some(2),
        _ => None,
    }
}

/// The body of the first start-of-frame segment (SOF0 to SOF2: baseline, extended,
/// progressive) after its length, and whether a JFIF (APP0) and an Adobe (APP14)
/// segment came before it; `None` when the markers before it do not parse.
fn frame_header(jpeg: &[u8]) -> Option<(&[u8], bool, bool)> {
    let (mut jfif, mut adobe) = (false, false);
    let mut rest = jpeg.strip_prefix(&[0xFF, 0xD8])?;
    loop {
        let [0xFF, marker, len_hi, len_lo, ..] = *rest else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        let body = rest.get(4..2 + len.max(2))?;
        match marker {
            0xC0..=0xC2 => return Some((body, jfif, adobe)),
            // Another SOF (lossless, differential, arithmetic), or the start of scan
            // before any SOF: not a frame for this path. 0xC4 (DHT), 0xC8 (JPG) and
            // 0xCC (DAC) are other segments.
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xDA => return None,
            0xE0 => jfif |= body.starts_with(b"JFIF\0"),
            0xEE => adobe |= body.starts_with(b"Adobe"),
            _ => {}
        }
        rest = &rest[2 + len..];
    }
}

/// The planes of a JPEG whose header says Y'CbCr at `subsampling`, packed; `None` when
/// rusty_jpeg refuses the file or gives other planes than the header announced.
fn decode(jpeg: &[u8], subsampling: usize) -> Option<Planes> {
    let mut decoder = rusty_jpeg::Decoder::new(jpeg);
    // Frames are processed in parallel, one per core: a worker thread per picture
    // (rusty_jpeg 0.4.8's default above 128 x 128) would only add hand-offs.
    decoder.set_single_threaded(true);
    let image = decoder.decode_planar().ok()?;
    let (width, height) = (usize::from(image.width), usize::from(image.height));
    let expected = |i: usize| match i {
        0 => (width, height),
        _ => (width.div_ceil(subsampling), height.div_ceil(subsampling)),
    };
    let mut planes = image.components.into_iter().enumerate().map(|(i, c)| {
        (expected(i) == (c.width, c.height)).then(|| Plane {
            data: packed(c.data, c.stride, c.width, c.height),
            width: c.width,
            height: c.height,
        })
    });
    let planes = [planes.next()??, planes.next()??, planes.next()??];
    Some(Planes {
        planes,
        subsampling,
    })
}

/// The first `width` bytes of each of the `height` rows `stride` bytes apart in `data`
/// (rusty_jpeg pads rows to whole 8 x 8 blocks), one row after another.
fn packed(mut data: Vec<u8>, stride: usize, width: usize, height: usize) -> Vec<u8> {
    if stride == width {
        data.truncate(width * height);
        return data;
    }
    let mut out = Vec::with_capacity(width * height);
    for row in data.chunks(stride).take(height) {
        out.extend_from_slice(&row[..width]);
    }
    out
}

/// `planes` as a baseline JPEG at `quality`, with their own subsampling; `None` when
/// the encoder refuses them (a side over 65,535 pixels).
fn encode(planes: &Planes, quality: u8) -> Option<Filtered> {
    let [y, cb, cr] = &planes.planes;
    let (width, height) = (u16::try_from(y.width).ok()?, u16::try_from(y.height).ok()?);
    let s = planes.subsampling;
    let image = rusty_jpeg::encode::PlanarYcbcrImage::new(
        &y.data,
        &cb.data,
        &cr.data,
        [y.width, cb.width, cr.width],
        width,
        height,
        (s, s),
    )?;
    let mut jpeg = Vec::new();
    let mut encoder = rusty_jpeg::Encoder::new(&mut jpeg, quality.clamp(1, 100));
    encoder.set_sampling_factor(image.sampling_factor());
    encoder.encode_image(image).ok()?;
    Some(Filtered {
        width: u32::from(width),
        height: u32::from(height),
        jpeg,
    })
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, RgbImage, imageops::FilterType};

    use super::*;
    use crate::domain::video::{Processor, decode, encode as encode_picture, kernels};

    /// The fixture photo at `width` x `height`, as a JPEG from this project's encoder at
    /// `quality`.
    fn photo_jpeg(width: u32, height: u32, quality: u8) -> (Frame, DynamicImage) {
        let (rgb, w, h) = kernels::fixture();
        let photo = DynamicImage::ImageRgb8(RgbImage::from_raw(w as u32, h as u32, rgb).unwrap())
            .resize_exact(width, height, FilterType::Triangle);
        let jpeg = encode_picture(&photo, Encoding::Jpeg, quality).unwrap();
        (frame(jpeg), photo)
    }

    fn frame(data: Vec<u8>) -> Frame {
        Frame {
            width: 0,
            height: 0,
            encoding: Encoding::Jpeg,
            data,
        }
    }

    /// Mean absolute difference of two RGB8 pictures, gray levels.
    fn mean_difference(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions());
        let sum: f64 = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum();
        sum / a.len() as f64
    }

    fn rgb_of_jpeg(jpeg: &[u8]) -> RgbImage {
        image::load_from_memory(jpeg).unwrap().to_rgb8()
    }

    /// Against the general path (decode to RGB, filter, encode): the planar output is as
    /// close to the exactly filtered picture (the decoded input, filtered in RGB, not
    /// encoded) as the general path's output is, within 0.4 gray level on average; and the
    /// two outputs are as close to each other, within 0.4, as the general path's output
    /// is to the exact picture.
    #[test]
    fn blur_and_resize_give_the_general_paths_picture() {
        let cases = [
            (Filter::GaussianBlur { sigma: 2.0 }, (640, 480)),
            (Filter::GaussianBlur { sigma: 0.6 }, (160, 120)),
            (Filter::GaussianBlur { sigma: 5.0 }, (17, 9)),
            (Filter::GaussianBlur { sigma: 1.0 }, (1, 1)),
            (Filter::GaussianBlur { sigma: 1.0 }, (1, 7)),
            (Filter::GaussianBlur { sigma: 1.0 }, (7, 1)),
            (
                Filter::Resize {
                    width: 320,
                    height: 240,
                },
                (640, 480),
            ),
            (
                Filter::Resize {
                    width: 200,
                    height: 150,
                },
                (160, 120),
            ),
            (
                Filter::Resize {
                    width: 2,
                    height: 2,
                },
                (33, 17),
            ),
        ];
        // (input, output quality): 4:2:0 to 4:2:0, 4:4:4 to 4:4:4, 4:4:4 to 4:2:0.
        for (filter, (width, height)) in cases {
            for (input, quality) in [(85, 85), (95, 95), (95, 85)] {
                let case = format!("{filter:?} {width}x{height} quality {input} to {quality}");
                let (frame, _) = photo_jpeg(width, height, input);
                let fast = filter_jpeg(&frame, &filter, &Limits::default(), quality)
                    .unwrap_or_else(|| panic!("{case}: took the general path"))
                    .unwrap();
                let picture = decode(frame.clone(), &Limits::default()).unwrap();
                let exact = Processor::new(filter).process(&picture);
                let general = encode_picture(&exact, Encoding::Jpeg, quality).unwrap();
                let (fast_rgb, general_rgb) = (rgb_of_jpeg(&fast.jpeg), rgb_of_jpeg(&general));
                assert_eq!(fast_rgb.dimensions(), (fast.width, fast.height), "{case}");
                let exact = exact.to_rgb8();
                let (fast_loss, general_loss) = (
                    mean_difference(&fast_rgb, &exact),
                    mean_difference(&general_rgb, &exact),
                );
                assert!(
                    fast_loss <= general_loss + 0.4,
                    "{case}: {fast_loss} from the exact picture, the general path {general_loss}"
                );
                let between = mean_difference(&fast_rgb, &general_rgb);
                assert!(
                    between <= general_loss + 0.4,
                    "{case}: {between} from the general path's output, which is {general_loss} \
                     from the exact picture"
                );
            }
        }
    }

    #[test]
    fn other_frames_take_the_general_path() {
        let blur = Filter::GaussianBlur { sigma: 2.0 };
        let limits = Limits::default();
        let (frame_420, photo) = photo_jpeg(64, 48, 85);
        // 4:2:0 in, 4:4:4 out.
        assert!(filter_jpeg(&frame_420, &blur, &limits, 95).is_none());
        let (frame_444, _) = photo_jpeg(64, 48, 95);
        assert!(
            filter_jpeg(&frame_444, &blur, &limits, 85).is_some(),
            "halved chroma"
        );
        // The image crate's encoder (4:4:4, components 1, 2, 3), as the load tool sends.
        let mut from_image = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut from_image, 90);
        photo.write_with_encoder(encoder).unwrap();
        assert!(filter_jpeg(&frame(from_image), &blur, &limits, 85).is_some());
        // A size 4:2:0 chroma cannot take exactly.
        let odd = Filter::Resize {
            width: 33,
            height: 16,
        };
        assert!(filter_jpeg(&frame_420, &odd, &limits, 85).is_none());
        assert!(filter_jpeg(&frame_444, &odd, &limits, 85).is_none());
        assert!(
            filter_jpeg(&frame_444, &odd, &limits, 95).is_some(),
            "4:4:4 takes any size"
        );
        // Filters that are not per plane, and other encodings.
        assert!(filter_jpeg(&frame_420, &Filter::Sobel, &limits, 85).is_none());
        let png = Frame {
            encoding: Encoding::Png,
            ..frame_420.clone()
        };
        assert!(filter_jpeg(&png, &blur, &limits, 85).is_none());
        // Gray and 4:2:2 JPEGs.
        let gray = encode_picture(
            &DynamicImage::ImageLuma8(photo.to_luma8()),
            Encoding::Jpeg,
            85,
        );
        assert!(filter_jpeg(&frame(gray.unwrap()), &blur, &limits, 85).is_none());
        let mut jpeg_422 = Vec::new();
        let mut encoder = rusty_jpeg::Encoder::new(&mut jpeg_422, 85);
        encoder.set_sampling_factor(rusty_jpeg::SamplingFactor::R_4_2_2);
        let rgb = photo.to_rgb8();
        encoder
            .encode(&rgb, 64, 48, rusty_jpeg::ColorType::Rgb)
            .unwrap();
        assert!(filter_jpeg(&frame(jpeg_422), &blur, &limits, 85).is_none());
    }

    #[test]
    fn halving_averages_two_by_two_and_keeps_odd_edges() {
        let plane = Plane {
            data: vec![0, 10, 20, 30, 40, 50, 60, 70, 80],
            width: 3,
            height: 3,
        };
        let half = halved(&plane);
        assert_eq!((half.width, half.height), (2, 2));
        // (0 + 10 + 30 + 40) / 4, (20 + 20 + 50 + 50) / 4, (60 + 70 + 60 + 70) / 4, 80.
        assert_eq!(half.data, [20, 35, 65, 80]);
        let one = halved(&Plane {
            data: vec![7],
            width: 1,
            height: 1,
        });
        assert_eq!((one.data, one.width, one.height), (vec![7], 1, 1));
    }

    #[test]
    fn limits_are_checked_and_broken_files_do_not_panic() {
        let blur = Filter::GaussianBlur { sigma: 2.0 };
        let (good, _) = photo_jpeg(64, 48, 85);
        let small = Limits {
            max_pixels: 64 * 47,
            ..Limits::default()
        };
        let err = filter_jpeg(&good, &blur, &small, 85).unwrap().unwrap_err();
        assert!(err.is_size_limit(), "{err}");
        let garbage = filter_jpeg(
            &frame(b"not a jpeg".to_vec()),
            &blur,
            &Limits::default(),
            85,
        );
        assert!(matches!(garbage, Some(Err(FrameError::Undecodable(_)))));
        // Every prefix and every one-byte corruption of the header: an answer, no panic.
        for end in 0..good.data.len().min(700) {
            let _ = ycbcr_subsampling(&good.data[..end]);
            let mut broken = good.data.clone();
            broken[end] ^= 0xA5;
            let _ = ycbcr_subsampling(&broken);
            let _ = filter_jpeg(&frame(broken), &blur, &Limits::default(), 85);
        }
    }
}
