//! Canny's edge detector (J. Canny, "A Computational Approach to Edge Detection", IEEE
//! PAMI 8(6), 1986), the way imageproc 0.27 and OpenCV run it:
//! 1. a Gaussian blur with sigma 1.4 ([`super::gaussian_blur`]);
//! 2. the Sobel gradients ([`super::sobel`]);
//! 3. non-maximum suppression: a pixel stays when its magnitude is at least that of
//!    both neighbours along the gradient's direction, quantized to 0, 45, 90 or 135
//!    degrees. Without `atan2`: the direction is found by comparing `|gy|` with
//!    `|gx| tan(22.5 deg)` and `|gx| tan(67.5 deg)` in 15-bit fixed point, as OpenCV's
//!    `Canny` does. Magnitudes are compared squared, in integers;
//! 4. hysteresis: every pixel at or above `high` is an edge, and so is every pixel at or
//!    above `low` connected to one through its 8 neighbours, followed with an explicit
//!    stack.
//!
//! The border pixels are never edges. Tolerance: given the same blurred picture, the
//! edge map equals the straightforward reference's (f64 Sobel, `atan2` directions,
//! f64 magnitudes) exactly; through the fixed-point blur (within 1 gray level of an f64
//! blur), it agrees with the reference on at least 99% of the fixture's pixels.

/// `tan(22.5 deg)` in Q15, as OpenCV's `TG22`.
const TAN_22_5_Q15: i32 = 13573;

/// The edges of a gray picture: 255 on an edge, 0 elsewhere.
///
/// # Panics
/// When `src.len() != width * height` or `low > high`.
pub fn canny(src: &[u8], width: usize, height: usize, low: f32, high: f32) -> Vec<u8> {
    assert_eq!(src.len(), width * height, "canny: size");
    assert!(low <= high, "canny: low must not exceed high");
    let mut out = vec![0u8; src.len()];
    if width < 3 || height < 3 {
        return out; // every pixel is a border pixel
    }
    let blurred = super::gaussian_blur(src, width, height, 1, 1.4);
    edges_of_blurred(&blurred, width, height, low, high, &mut out);
    out
}

/// Steps 2 to 4 on an already blurred picture of at least 3 x 3, into `out` (zeroed).
fn edges_of_blurred(
    blurred: &[u8],
    width: usize,
    height: usize,
    low: f32,
    high: f32,
    out: &mut [u8],
) {
    // mag >= t  <=>  mag^2 >= t^2  <=>  mag^2 >= ceil(t^2) for an integer mag^2.
    let squared = |t: f32| (f64::from(t.max(0.0)).powi(2).ceil()).min(f64::from(i32::MAX)) as i32;
    let (low, high) = (squared(low), squared(high));
    let (classes, strong) = suppress(blurred, width, low, high);
    follow(&classes, &strong, width, height, out);
}

super::simd! {
    /// The squared gradient magnitudes of one row: `gx^2 + gy^2`, at most 2 * 1020^2.
    fn squared_magnitudes(gx: &[i16], gy: &[i16], out: &mut [i32]) {
        for ((m, &x), &y) in out.iter_mut().zip(gx).zip(gy) {
            *m = i32::from(x) * i32::from(x) + i32::from(y) * i32::from(y);
        }
    }
}

/// A pixel's class after non-maximum suppression.
const NONE: u8 = 0;
const WEAK: u8 = 1;
const STRONG: u8 = 2;

/// Sobel's gradients of `blurred`, then non-maximum suppression and thresholding: each
/// interior pixel's class, and the strong pixels' indices (where hysteresis starts).
/// The gradients come a row at a time ([`super::sobel::for_each_row`]) and are kept
/// for two rows, their squared magnitudes for three (a row and its two neighbours):
/// whole-picture gradients and magnitudes would be 7.4 MB at 1280 x 720, written and
/// read back once each.
fn suppress(blurred: &[u8], width: usize, low: i32, high: i32) -> (Vec<u8>, Vec<usize>) {
    let mut classes = vec![NONE; blurred.len()];
    let mut strong = Vec::new();
    // m < low or m == 0 is not even a weak edge: m < floor, as m >= 0.
    let floor = low.max(1);
    let mut magnitudes = vec![0i32; 3 * width];
    let (mut gx, mut gy) = (vec![0i16; 2 * width], vec![0i16; 2 * width]);
    // Row k's place in a ring of `rows` rows.
    let slot = |k: usize, rows: usize| k % rows * width..(k % rows + 1) * width;
    super::sobel::for_each_row(blurred, width, &mut |y, gx_row, gy_row| {
        // Row y arrives; row y - 1 has both its neighbours now.
        gx[slot(y, 2)].copy_from_slice(gx_row);
        gy[slot(y, 2)].copy_from_slice(gy_row);
        squared_magnitudes(gx_row, gy_row, &mut magnitudes[slot(y, 3)]);
        if y >= 2 {
            let here = y - 1;
            let rows = Rows {
                above: &magnitudes[slot(here - 1, 3)],
                here: &magnitudes[slot(here, 3)],
                below: &magnitudes[slot(here + 1, 3)],
                gx: &gx[slot(here, 2)],
                gy: &gy[slot(here, 2)],
            };
            let classes = &mut classes[here * width..(here + 1) * width];
            suppress_row(&rows, floor, high, classes, &mut strong, here * width);
        }
    });
    (classes, strong)
}

/// One row's squared magnitudes with the rows above and below it, and its gradients.
struct Rows<'a> {
    above: &'a [i32],
    here: &'a [i32],
    below: &'a [i32],
    gx: &'a [i16],
    gy: &'a [i16],
}

/// Non-maximum suppression of one interior row: its `classes`, and its strong pixels
/// pushed on `strong` as indices from `offset` (the row's first pixel).
fn suppress_row(
    rows: &Rows,
    floor: i32,
    high: i32,
    classes: &mut [u8],
    strong: &mut Vec<usize>,
    offset: usize,
) {
    let Rows {
        above,
        here,
        below,
        gx,
        gy,
    } = *rows;
    let width = here.len();
    // Most of a picture is no edge at all: skip 16 pixels at a time when none of them
    // reaches the low threshold (a maximum that vectorizes).
    for start in (1..width - 1).step_by(16) {
        let end = (start + 16).min(width - 1);
        if here[start..end].iter().fold(0, |a, &m| a.max(m)) < floor {
            continue;
        }
        for x in start..end {
            let m = here[x];
            if m < floor {
                continue;
            }
            // Within +/-1020, so `1020 << 15` and `1020 * 13573` fit an i32.
            let (dx, dy) = (i32::from(gx[x]), i32::from(gy[x]));
            let (ax, ay) = (dx.abs(), dy.abs());
            // The two neighbours along the gradient (y grows downwards).
            let (before, after) = if (ay << 15) < ax * TAN_22_5_Q15 {
                (here[x - 1], here[x + 1]) // within 22.5 degrees of horizontal
            } else if (ax << 15) <= ay * TAN_22_5_Q15 {
                (above[x], below[x]) // within 22.5 degrees of vertical
            } else if (dx > 0) == (dy > 0) {
                (above[x - 1], below[x + 1]) // 45 degrees
            } else {
                (above[x + 1], below[x - 1]) // 135 degrees
            };
            if m >= before && m >= after {
                if m >= high {
                    classes[x] = STRONG;
                    strong.push(offset + x);
                } else {
                    classes[x] = WEAK;
                }
            }
        }
    }
}

/// Hysteresis: marks every strong pixel and every weak pixel 8-connected to one.
fn follow(classes: &[u8], strong: &[usize], width: usize, height: usize, out: &mut [u8]) {
    let mut stack = Vec::new();
    for &start in strong {
        if out[start] != 0 {
            continue;
        }
        out[start] = 255;
        stack.push(start);
        while let Some(i) = stack.pop() {
            // Edges are interior pixels, so every neighbour of one is in the picture.
            debug_assert!({
                let (x, y) = (i % width, i / width);
                x > 0 && y > 0 && x < width - 1 && y < height - 1
            });
            for n in [
                i - width - 1,
                i - width,
                i - width + 1,
                i - 1,
                i + 1,
                i + width - 1,
                i + width,
                i + width + 1,
            ] {
                if classes[n] != NONE && out[n] == 0 {
                    out[n] = 255;
                    stack.push(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
