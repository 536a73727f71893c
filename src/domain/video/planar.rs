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
//! (4:2:0 below 90, 4:4:4 from 90; [`super::encode`]), as on the general path. A
//! 4:4:4 input for a 4:2:0 output has its chroma planes halved (each sample the mean of
//! 2 x 2, as the encoder would do it), before a blur and after a resize. The path is
//! taken for an 8-bit Y'CbCr JPEG at 4:4:4 or 4:2:0, unless the output is 4:4:4 and the
//! input 4:2:0, and for resize when the output subsampling divides the output size.
//! Anything else, or a file this decoder refuses, goes the general way. Decoding and
//! encoding are rusty_jpeg's (its planar decoder and planar encoder input).
//!
//! Tolerance, against the general path on the same input (tests below): the output is
//! as close to the exactly filtered picture as the general path's output is, within 0.4
//! gray level on average (JPEG's own loss at quality 85 is 0.5 to 2 levels there), and
//! the two outputs are as close to each other, within 0.4, as the general path's output
//! is to the exact picture.

use super::{
    Encoding, Filter, Frame, FrameError, Limits,
    frame::{check_bytes, check_header},
    kernels,
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
                    data: kernels::bilinear(&plane.data, (plane.width, plane.height), 1, to),
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
/// the 2 x 2 it covers ([`kernels::halved`]).
fn halved(plane: &Plane) -> Plane {
    Plane {
        data: kernels::halved(&plane.data, plane.width, plane.height, 1),
        width: plane.width.div_ceil(2),
        height: plane.height.div_ceil(2),
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
    // rusty_jpeg 0.4.8 can also decode at 1/2 to 1/8 of the size (`Decoder::scale`),
    // but its reduced inverse DCTs are scalar (decode/idct.rs,
    // `dequantize_and_idct_block_4x4`) where the full one is AVX2: a resize to half
    // size measured no faster that way (1.51 to 1.69 ms against 1.72 to 1.89 ms, noise
    // of the day), so frames are decoded whole.
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
mod tests;
