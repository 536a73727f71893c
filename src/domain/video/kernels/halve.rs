//! Halving a picture: each output sample the rounded mean of the 2 x 2 it covers.
//!
//! At exactly half the size this is bilinear interpolation: OpenCV's `INTER_LINEAR`
//! samples the source at (x + 0.5) * 2 - 0.5 = 2x + 0.5, the centre of each 2 x 2, with
//! weights 1/2 and 1/2 each way, and [`super::bilinear`] takes this kernel there. The
//! mean is rounded once, as the bilinear kernel rounds its blend, so the two agree
//! exactly: (1024 · 1024 (a + b + c + d) + 2^21) >> 22 = (a + b + c + d + 2) >> 2.

/// `pixels` (`width` x `height` pixels of `channels` interleaved bytes, row by row) at
/// half the width and height, rounded up: each sample the mean of the 2 x 2 samples of
/// its channel that it covers, `(a + b + c + d + 2) / 4`. At an odd side's end the last
/// column or row counts twice. One and three channels (gray, RGB) run vectorized.
///
/// # Panics
/// When `pixels.len() != width * height * channels`, or `channels` is 0.
pub fn halved(pixels: &[u8], width: usize, height: usize, channels: usize) -> Vec<u8> {
    assert!(channels > 0, "halved: at least one channel");
    assert_eq!(
        pixels.len(),
        width * height * channels,
        "halved: the buffer size"
    );
    let (half_width, half_height) = (width.div_ceil(2), height.div_ceil(2));
    let stride = width * channels;
    let mut out = Vec::with_capacity(half_width * half_height * channels);
    let mut row = vec![0; half_width * channels];
    for y in 0..half_height {
        let top = &pixels[2 * y * stride..(2 * y + 1) * stride];
        let bottom_y = (2 * y + 1).min(height - 1);
        let bottom = &pixels[bottom_y * stride..(bottom_y + 1) * stride];
        let whole = width / 2 * channels;
        match channels {
            1 => halve_rows_gray(top, bottom, &mut row[..whole]),
            3 => halve_rows_rgb(top, bottom, &mut row[..whole]),
            _ => halve_rows(top, bottom, &mut row[..whole], channels),
        }
        if width % 2 == 1 {
            let last = (width - 1) * channels;
            for c in 0..channels {
                let (t, b) = (top[last + c], bottom[last + c]);
                row[whole + c] = mean4(t, t, b, b);
            }
        }
        out.extend_from_slice(&row);
    }
    out
}

/// The rounded mean of four samples.
#[inline(always)]
fn mean4(a: u8, b: u8, c: u8, d: u8) -> u8 {
    ((u16::from(a) + u16::from(b) + u16::from(c) + u16::from(d) + 2) >> 2) as u8
}

/// `out[i * channels + c]`: the mean of channel c of pixels 2i and 2i + 1 of `top` and
/// `bottom`, for each pixel of `out`.
#[inline(always)]
fn halve_rows(top: &[u8], bottom: &[u8], out: &mut [u8], channels: usize) {
    let pairs = top
        .chunks_exact(2 * channels)
        .zip(bottom.chunks_exact(2 * channels));
    for ((t, b), o) in pairs.zip(out.chunks_exact_mut(channels)) {
        for c in 0..channels {
            o[c] = mean4(t[c], t[channels + c], b[c], b[channels + c]);
        }
    }
}

super::simd! {
    /// [`halve_rows`] for one channel.
    fn halve_rows_gray(top: &[u8], bottom: &[u8], out: &mut [u8]) {
        halve_rows(top, bottom, out, 1);
    }
}

super::simd! {
    /// [`halve_rows`] for three channels.
    fn halve_rows_rgb(top: &[u8], bottom: &[u8], out: &mut [u8]) {
        halve_rows(top, bottom, out, 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::video::kernels::random_image;

    /// The mean of each 2 x 2, one sample at a time, with the odd edge repeated.
    fn reference(pixels: &[u8], width: usize, height: usize, channels: usize) -> Vec<u8> {
        let at = |x: usize, y: usize, c: usize| {
            u32::from(pixels[(y.min(height - 1) * width + x.min(width - 1)) * channels + c])
        };
        let mut out = Vec::new();
        for y in 0..height.div_ceil(2) {
            for x in 0..width.div_ceil(2) {
                for c in 0..channels {
                    let (x, y) = (2 * x, 2 * y);
                    let sum = at(x, y, c) + at(x + 1, y, c) + at(x, y + 1, c) + at(x + 1, y + 1, c);
                    out.push(((sum + 2) / 4) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn halving_is_the_rounded_mean_of_each_two_by_two() {
        for channels in [1, 2, 3, 4] {
            for (width, height) in [(1, 1), (1, 9), (9, 1), (2, 2), (17, 9), (64, 38), (65, 39)] {
                let pixels = random_image(
                    (width * height * channels) as u64,
                    width * height * channels,
                );
                assert_eq!(
                    halved(&pixels, width, height, channels),
                    reference(&pixels, width, height, channels),
                    "{width} x {height} x {channels}"
                );
            }
        }
        // (0 + 10 + 30 + 40) / 4, (20 + 20 + 50 + 50) / 4, (60 + 70 + 60 + 70) / 4, 80.
        assert_eq!(
            halved(&[0, 10, 20, 30, 40, 50, 60, 70, 80], 3, 3, 1),
            [20, 35, 65, 80]
        );
    }
}
