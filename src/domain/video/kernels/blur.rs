//! A separable Gaussian blur in fixed point, a horizontal pass then a vertical one,
//! rounded to 8 bits at the end. Up to sigma 8 (radius 16) it runs in 16-bit lanes: pixels
//! in Q7, weights in Q16 (summing to exactly 65536), high-half multiplies. Larger kernels
//! run in 32-bit lanes: weights in Q15, the horizontal pass into 16 bits with 8
//! fractional bits. Borders repeat the edge pixel, as imageproc's `gaussian_blur_f32` does,
//! with the same kernel: radius `ceil(2 sigma)`, weights `exp(-x^2 / (2 sigma^2))`
//! normalized.
//!
//! Tolerance: within 1 gray level of the exact (f64) blur with the same kernel, rounded.

use super::{simd, taps};

/// The kernel's radius for `sigma`: `ceil(2 sigma)` pixels, as imageproc 0.27 takes it.
pub fn kernel_radius(sigma: f32) -> usize {
    (2.0 * sigma).ceil().max(1.0) as usize
}

/// The 1-D Gaussian kernel for `sigma` (> 0), `2 r + 1` weights in Q15 that sum to
/// exactly 32768 (the rounding error goes to the centre weight).
pub fn gaussian_kernel_q15(sigma: f32) -> Vec<u32> {
    kernel_fixed(sigma, 1 << 15)
}

/// The kernel's weights in fixed point, summing to exactly `one`, the rounding error on
/// the centre weight.
fn kernel_fixed(sigma: f32, one: u32) -> Vec<u32> {
    let radius = kernel_radius(sigma) as i64;
    let sigma = f64::from(sigma);
    let exact: Vec<f64> = (-radius..=radius)
        .map(|x| (-((x * x) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = exact.iter().sum();
    let mut weights: Vec<u32> = exact
        .iter()
        .map(|w| (w / sum * f64::from(one)).round() as u32)
        .collect();
    let total: u32 = weights.iter().sum();
    let centre = radius as usize;
    weights[centre] = (weights[centre] + one).saturating_sub(total);
    weights
}

/// `src` (`width` x `height` pixels of `channels` interleaved bytes) blurred with a
/// Gaussian of standard deviation `sigma` pixels (> 0). Same layout out.
///
/// # Panics
/// When `src.len() != width * height * channels`, or `sigma` is not > 0.
pub fn gaussian_blur(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    sigma: f32,
) -> Vec<u8> {
    assert_eq!(src.len(), width * height * channels, "gaussian_blur: size");
    assert!(sigma > 0.0, "gaussian_blur: sigma must be > 0");
    if src.is_empty() {
        return Vec::new();
    }
    if kernel_radius(sigma) <= MAX_RADIUS_16 {
        let kernel = kernel_fixed(sigma, 1 << 16);
        let Ok(kernel) = kernel
            .iter()
            .map(|&w| u16::try_from(w))
            .collect::<Result<Vec<_>, _>>()
        else {
            // The centre weight is all of 1.0 (sigma below about 0.2): the others are 0.
            return src.to_vec();
        };
        // Filled a row at a time, without zeroing first (see `blur16`).
        let mut out = Vec::with_capacity(src.len());
        blur16(src, width, channels, &kernel, &mut out);
        out
    } else {
        let kernel = gaussian_kernel_q15(sigma);
        let mut out = vec![0u8; src.len()];
        let mut tmp = vec![0u16; src.len()];
        horizontal(src, width, channels, &kernel, &mut tmp);
        vertical(&tmp, width * channels, &kernel, &mut out);
        out
    }
}

/// The largest radius (sigma up to 8) blurred in 16-bit lanes, twice as many per vector
/// as 32-bit ones. Pixels are Q7 there and weights Q16: each product `(a * w) >> 16` (a
/// high-half multiply) truncates by less than 1/128 of a level, and adding half a unit
/// per product back leaves at most `(radius + 1) / 256` of a level per pass, 0.07 at
/// this radius. Larger kernels take the 32-bit path.
const MAX_RADIUS_16: usize = 16;

simd! {
    /// The blur in 16 bits: each row through the horizontal pass into `Q7`, then each
    /// output row from the clamped rows around it, each weight on the sum of its two
    /// rows (each at most 32640 + 8, so the sum fits: 65296), rounded to 8 bits.
    ///
    /// (A ring of `2 r + 1` rows instead of the whole picture measured slower here, at
    /// both 640 x 480 and 1280 x 720.)
    fn blur16(src: &[u8], width: usize, channels: usize, kernel: &[u16], out: &mut Vec<u8>) {
        let radius = kernel.len() / 2;
        let row_len = width * channels;
        let height = src.len() / row_len;
        // `tmp` and `out` are filled a row at a time (a memcpy from a row in L1), not
        // zeroed first: a memset of the whole picture each (perf: with Sobel's, 10% of an
        // edges frame).
        let mut tmp = Vec::with_capacity(src.len());
        let mut padded = vec![0u16; (width + 2 * radius) * channels];
        let mut filtered = vec![0u16; row_len];
        for row in src.chunks_exact(row_len) {
            horizontal16(row, channels, kernel, &mut padded, &mut filtered);
            tmp.extend_from_slice(&filtered);
        }
        let row = |y: usize| &tmp[y * row_len..(y + 1) * row_len];
        // Half a unit per product for the truncation of the high-half multiplies, and
        // 1 << 6 to round the shift below.
        let products = radius as u16 + 1; // the centre and one per pair
        let bias = products / 2 + (1 << 6);
        let mut acc = vec![0u16; row_len];
        let mut out_row = vec![0u8; row_len];
        let mut pairs: [taps::Pair; MAX_RADIUS_16] = [(&[], &[]); MAX_RADIUS_16];
        for y in 0..height {
            for (k, pair) in pairs[..radius].iter_mut().enumerate() {
                let k = k + 1;
                *pair = (row(y.saturating_sub(k)), row((y + k).min(height - 1)));
            }
            taps::convolve(row(y), &pairs[..radius], &kernel[radius..], bias, &mut acc);
            for (o, &a) in out_row.iter_mut().zip(&acc) {
                *o = (a >> 7).min(255) as u8;
            }
            out.extend_from_slice(&out_row);
        }
    }
}

/// One row's horizontal pass in 16 bits: the row edge-padded into `padded` in Q7, then
/// convolved into `out` in Q7, each weight on the sum of its two pixels (at most
/// 2 * 255 * 128 = 65280); the products sum to at most 255 * 128 = 32640, plus the bias.
#[inline(always)]
fn horizontal16(row: &[u8], channels: usize, kernel: &[u16], padded: &mut [u16], out: &mut [u16]) {
    let radius = kernel.len() / 2;
    let row_len = row.len();
    let width = row_len / channels;
    let (first, last) = (&row[..channels], &row[row_len - channels..]);
    for i in 0..radius {
        for c in 0..channels {
            padded[i * channels + c] = u16::from(first[c]) << 7;
            padded[(radius + width + i) * channels + c] = u16::from(last[c]) << 7;
        }
    }
    let centre = &mut padded[radius * channels..radius * channels + row_len];
    for (q, &p) in centre.iter_mut().zip(row) {
        *q = u16::from(p) << 7;
    }
    // Half a unit per product, for the truncation of the high-half multiplies.
    let products = radius as u16 + 1; // the centre and one per pair
    let bias = products / 2;
    let padded = &*padded;
    let mut pairs: [taps::Pair; MAX_RADIUS_16] = [(&[], &[]); MAX_RADIUS_16];
    for (k, pair) in pairs[..radius].iter_mut().enumerate() {
        let k = k + 1;
        *pair = (
            &padded[(radius - k) * channels..(radius - k) * channels + row_len],
            &padded[(radius + k) * channels..(radius + k) * channels + row_len],
        );
    }
    let centre = &padded[radius * channels..radius * channels + row_len];
    taps::convolve(centre, &pairs[..radius], &kernel[radius..], bias, out);
}

simd! {
    /// The horizontal pass: each row, edge-padded, convolved into Q8. The kernel is
    /// symmetric, so each weight multiplies the sum of its two pixels: half the products.
    fn horizontal(src: &[u8], width: usize, channels: usize, kernel: &[u32], tmp: &mut [u16]) {
        let radius = kernel.len() / 2;
        let row_len = width * channels;
        let mut padded = vec![0u8; (width + 2 * radius) * channels];
        let mut acc = vec![0u32; row_len];
        for (row, out) in src.chunks_exact(row_len).zip(tmp.chunks_exact_mut(row_len)) {
            let (first, last) = (&row[..channels], &row[row_len - channels..]);
            for i in 0..radius {
                padded[i * channels..(i + 1) * channels].copy_from_slice(first);
                let right = (radius + width + i) * channels;
                padded[right..right + channels].copy_from_slice(last);
            }
            padded[radius * channels..radius * channels + row_len].copy_from_slice(row);
            let weight = kernel[radius];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a = (1 << 6) + weight * u32::from(p); // 1 << 6 rounds the shift below
            }
            for k in 1..=radius {
                let weight = kernel[radius + k];
                let left = &padded[(radius - k) * channels..(radius - k) * channels + row_len];
                let right = &padded[(radius + k) * channels..(radius + k) * channels + row_len];
                for ((a, &l), &r) in acc.iter_mut().zip(left).zip(right) {
                    *a += weight * (u32::from(l) + u32::from(r));
                }
            }
            // At most 255 * 32768 + 64, so at most 65280 after the shift.
            for (o, &a) in out.iter_mut().zip(&acc) {
                *o = (a >> 7) as u16;
            }
        }
    }
}

simd! {
    /// The vertical pass: each output row from the clamped rows around it, Q8 to 8 bits,
    /// each weight on the sum of its two rows.
    fn vertical(tmp: &[u16], row_len: usize, kernel: &[u32], out: &mut [u8]) {
        let radius = kernel.len() / 2;
        let height = tmp.len() / row_len;
        let row = |y: usize| &tmp[y * row_len..(y + 1) * row_len];
        let mut acc = vec![0u32; row_len];
        for (y, out_row) in out.chunks_exact_mut(row_len).enumerate() {
            let weight = kernel[radius];
            for (a, &q) in acc.iter_mut().zip(row(y)) {
                *a = (1 << 22) + weight * u32::from(q); // 1 << 22 rounds the shift below
            }
            for k in 1..=radius {
                let weight = kernel[radius + k];
                let (above, below) = (row(y.saturating_sub(k)), row((y + k).min(height - 1)));
                for ((a, &u), &d) in acc.iter_mut().zip(above).zip(below) {
                    *a += weight * (u32::from(u) + u32::from(d));
                }
            }
            // At most 65280 * 32768 + 2^22 < 2^32; 255 after the shift.
            for (o, &a) in out_row.iter_mut().zip(&acc) {
                *o = (a >> 23) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{fixture, random_image};
    use super::*;

    /// The straightforward blur: f64 throughout, the same kernel and borders, rounded once.
    fn reference(src: &[u8], width: usize, height: usize, channels: usize, sigma: f32) -> Vec<u8> {
        let radius = kernel_radius(sigma) as i64;
        let s = f64::from(sigma);
        let kernel: Vec<f64> = (-radius..=radius)
            .map(|x| (-((x * x) as f64) / (2.0 * s * s)).exp())
            .collect();
        let sum: f64 = kernel.iter().sum();
        let at = |x: i64, y: i64, c: usize| {
            let x = x.clamp(0, width as i64 - 1) as usize;
            let y = y.clamp(0, height as i64 - 1) as usize;
            f64::from(src[(y * width + x) * channels + c])
        };
        let mut out = vec![0; src.len()];
        for y in 0..height as i64 {
            for x in 0..width as i64 {
                for c in 0..channels {
                    let mut value = 0.0;
                    for (j, wy) in kernel.iter().enumerate() {
                        for (i, wx) in kernel.iter().enumerate() {
                            value += wx * wy * at(x + i as i64 - radius, y + j as i64 - radius, c);
                        }
                    }
                    out[(y as usize * width + x as usize) * channels + c] =
                        (value / (sum * sum)).round() as u8;
                }
            }
        }
        out
    }

    fn assert_within_one(fast: &[u8], exact: &[u8], what: &str) {
        let worst = fast.iter().zip(exact).map(|(a, b)| a.abs_diff(*b)).max();
        assert!(worst.unwrap_or(0) <= 1, "{what}: off by {worst:?}");
    }

    #[test]
    fn the_kernel_sums_to_one_in_q15() {
        for sigma in [0.1, 0.5, 1.4, 2.0, 7.3, 50.0] {
            let kernel = gaussian_kernel_q15(sigma);
            assert_eq!(kernel.iter().sum::<u32>(), 32768, "sigma {sigma}");
            assert_eq!(kernel.len(), 2 * kernel_radius(sigma) + 1);
        }
    }

    #[test]
    fn the_fixture_blurs_within_one_level() {
        let (rgb, width, height) = fixture();
        for sigma in [1.4, 2.0] {
            let fast = gaussian_blur(&rgb, width, height, 3, sigma);
            assert_within_one(&fast, &reference(&rgb, width, height, 3, sigma), "fixture");
        }
    }

    #[test]
    fn tiny_and_odd_sizes_stay_in_bounds() {
        for (width, height) in [(1, 1), (1, 9), (9, 1), (2, 3), (7, 5), (13, 1)] {
            for channels in [1, 3] {
                let src = random_image((width * 31 + height) as u64, width * height * channels);
                let fast = gaussian_blur(&src, width, height, channels, 3.0);
                let exact = reference(&src, width, height, channels, 3.0);
                assert_within_one(&fast, &exact, &format!("{width} x {height} x {channels}"));
            }
        }
        // A flat picture stays flat, at the extremes too.
        for level in [0, 1, 128, 254, 255] {
            let flat = vec![level; 12 * 7];
            assert_eq!(gaussian_blur(&flat, 12, 7, 1, 5.0), flat);
        }
    }

    #[test]
    fn both_paths_blur_within_one_level_either_side_of_the_16_bit_limit() {
        // Sigma 8 is the 16-bit path's largest kernel (radius 16); 8.5 and 12 take the
        // 32-bit path. 0.1 is the identity (the centre weight is all of 1.0 in Q16).
        assert_eq!(kernel_radius(8.0), MAX_RADIUS_16);
        for sigma in [0.1, 8.0, 8.5, 12.0] {
            for channels in [1, 3] {
                let (width, height) = (41, 29);
                let src = random_image(sigma as u64 + channels as u64, width * height * channels);
                let fast = gaussian_blur(&src, width, height, channels, sigma);
                let exact = reference(&src, width, height, channels, sigma);
                assert_within_one(
                    &fast,
                    &exact,
                    &format!("sigma {sigma}, {channels} channels"),
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_images_blur_within_one_level(
            width in 1usize..40, height in 1usize..40, gray in any::<bool>(),
            sigma in 0.2f32..6.0, seed in any::<u64>(),
        ) {
            let channels = if gray { 1 } else { 3 };
            let src = random_image(seed, width * height * channels);
            let fast = gaussian_blur(&src, width, height, channels, sigma);
            let exact = reference(&src, width, height, channels, sigma);
            let worst = fast.iter().zip(&exact).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            prop_assert!(worst <= 1, "off by {}", worst);
        }
    }
}
