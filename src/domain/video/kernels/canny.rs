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
mod tests {
    use image::GrayImage;
    use proptest::prelude::*;

    use super::super::{fixture, luma, random_image};
    use super::*;

    /// The straightforward Canny: an f64 blur (same kernel), f64 Sobel, `atan2`
    /// directions binned as imageproc bins them, f64 magnitudes, 8-neighbour hysteresis.
    fn reference(src: &[u8], width: usize, height: usize, low: f64, high: f64) -> Vec<u8> {
        reference_of_blurred(
            &reference_blur(src, width, height),
            width,
            height,
            low,
            high,
        )
    }

    /// The f64 Gaussian blur (sigma 1.4, the same kernel), rounded to whole gray levels.
    fn reference_blur(src: &[u8], width: usize, height: usize) -> Vec<f64> {
        let (w, h) = (width as i64, height as i64);
        let radius = super::super::kernel_radius(1.4) as i64;
        let kernel: Vec<f64> = (-radius..=radius)
            .map(|x| (-((x * x) as f64) / (2.0 * 1.4 * 1.4)).exp())
            .collect();
        let sum: f64 = kernel.iter().sum();
        let px =
            |x: i64, y: i64| f64::from(src[(y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize]);
        let mut blurred = vec![0.0; src.len()];
        for y in 0..h {
            for x in 0..w {
                let mut v = 0.0;
                for (j, wy) in kernel.iter().enumerate() {
                    for (i, wx) in kernel.iter().enumerate() {
                        v += wx * wy * px(x + i as i64 - radius, y + j as i64 - radius);
                    }
                }
                blurred[(y * w + x) as usize] = (v / (sum * sum)).round();
            }
        }
        blurred
    }

    /// The reference's steps 2 to 4 on a blurred picture.
    fn reference_of_blurred(
        blurred: &[f64],
        width: usize,
        height: usize,
        low: f64,
        high: f64,
    ) -> Vec<u8> {
        let (w, h) = (width as i64, height as i64);
        let b = |x: i64, y: i64| blurred[(y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize];
        let mut gx = vec![0.0; blurred.len()];
        let mut gy = vec![0.0; blurred.len()];
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) as usize;
                gx[i] = b(x + 1, y - 1) + 2.0 * b(x + 1, y) + b(x + 1, y + 1)
                    - b(x - 1, y - 1)
                    - 2.0 * b(x - 1, y)
                    - b(x - 1, y + 1);
                gy[i] = b(x - 1, y + 1) + 2.0 * b(x, y + 1) + b(x + 1, y + 1)
                    - b(x - 1, y - 1)
                    - 2.0 * b(x, y - 1)
                    - b(x + 1, y - 1);
            }
        }
        let g: Vec<f64> = gx.iter().zip(&gy).map(|(x, y)| x.hypot(*y)).collect();
        let mut class = vec![0u8; blurred.len()];
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = (y * w + x) as usize;
                let mut angle = gy[i].atan2(gx[i]).to_degrees();
                if angle < 0.0 {
                    angle += 180.0;
                }
                let (n1, n2) = if !(22.5..157.5).contains(&angle) {
                    (i - 1, i + 1)
                } else if angle < 67.5 {
                    (i - width - 1, i + width + 1)
                } else if angle < 112.5 {
                    (i - width, i + width)
                } else {
                    (i - width + 1, i + width - 1)
                };
                if g[i] > 0.0 && g[i] >= g[n1] && g[i] >= g[n2] && g[i] >= low {
                    class[i] = if g[i] >= high { 2 } else { 1 };
                }
            }
        }
        let strong: Vec<usize> = (0..class.len()).filter(|&i| class[i] == 2).collect();
        let mut out = vec![0; blurred.len()];
        follow(&class, &strong, width, height, &mut out);
        out
    }

    fn agreement(a: &[u8], b: &[u8]) -> f64 {
        a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
    }

    #[test]
    fn the_fixture_agrees_with_the_reference_and_imageproc() {
        let (rgb, width, height) = fixture();
        let mut gray = vec![0; width * height];
        luma(&rgb, &mut gray);
        for (low, high) in [(50.0, 100.0), (10.0, 30.0), (30.0, 60.0)] {
            let fast = canny(&gray, width, height, low, high);
            let exact = reference(&gray, width, height, f64::from(low), f64::from(high));
            let edges = fast.iter().filter(|&&p| p == 255).count();
            assert!(edges > 50, "{low}/{high}: only {edges} edge pixels");
            let with_reference = agreement(&fast, &exact);
            assert!(with_reference >= 0.99, "{low}/{high}: {with_reference}");
            let image = GrayImage::from_raw(width as u32, height as u32, gray.clone()).unwrap();
            let with_imageproc = agreement(&fast, &imageproc::edges::canny(&image, low, high));
            assert!(with_imageproc >= 0.98, "{low}/{high}: {with_imageproc}");
        }
    }

    #[test]
    fn a_square_has_its_outline_and_nothing_else() {
        let (width, height) = (20, 16);
        let mut src = vec![0u8; width * height];
        for y in 5..11 {
            for x in 6..14 {
                src[y * width + x] = 200;
            }
        }
        let edges = canny(&src, width, height, 50.0, 100.0);
        // Every edge pixel is within a pixel of the square's boundary, and the outline
        // is closed: each side of the square has edge pixels.
        for y in 0..height {
            for x in 0..width {
                if edges[y * width + x] == 255 {
                    let near_x = (5..=14).contains(&x) && (4..=11).contains(&y);
                    let inside = (7..13).contains(&x) && (6..10).contains(&y);
                    assert!(near_x && !inside, "edge at {x}, {y}");
                }
            }
        }
        for (x, y) in [(9, 4), (9, 10), (5, 7), (13, 7)] {
            let around =
                (y - 1..=y + 1).any(|yy| (x - 1..=x + 1).any(|xx| edges[yy * width + xx] == 255));
            assert!(around, "no edge near {x}, {y}");
        }
    }

    #[test]
    fn tiny_and_odd_sizes_stay_in_bounds() {
        for (width, height) in [(1, 1), (1, 9), (9, 1), (2, 2), (3, 3), (4, 3), (7, 5)] {
            let src = random_image((width * 13 + height) as u64, width * height);
            let fast = canny(&src, width, height, 10.0, 40.0);
            assert_eq!(fast.len(), width * height);
            if width >= 3 && height >= 3 {
                assert_eq!(
                    fast,
                    reference(&src, width, height, 10.0, 40.0),
                    "{width} x {height}"
                );
            } else {
                assert!(fast.iter().all(|&p| p == 0));
            }
        }
    }

    /// Smooth random pictures (noise blurred), so that there are real edges, through
    /// Canny's steps 2 to 4 and the reference's, on one blurred picture.
    fn edges_on_one_blur(
        seed: u64,
        (width, height): (usize, usize),
        low: f32,
        high: f32,
    ) -> (Vec<u8>, Vec<u8>) {
        let noise = random_image(seed, width * height);
        let src = crate::domain::video::kernels::gaussian_blur(&noise, width, height, 1, 1.0);
        let blurred = crate::domain::video::kernels::gaussian_blur(&src, width, height, 1, 1.4);
        let mut fast = vec![0; width * height];
        edges_of_blurred(&blurred, width, height, low, high, &mut fast);
        let blurred: Vec<f64> = blurred.iter().map(|&p| f64::from(p)).collect();
        let exact = reference_of_blurred(&blurred, width, height, f64::from(low), f64::from(high));
        (fast, exact)
    }

    #[test]
    fn the_picture_where_the_two_blurs_part_has_the_reference_edges_given_one_blur() {
        // Through both blurs, this 20 x 26 picture's edges agree with the reference's
        // on 98.65% of pixels only: one maximum moves a row, and hysteresis follows a
        // chain of 6 more pixels from the reference's.
        let (low, high) = (30.916_052, 30.916_052 + 35.314_064);
        let (fast, exact) = edges_on_one_blur(8_385_939_331_508_229_319, (20, 26), low, high);
        assert!(fast.contains(&255));
        assert_eq!(fast, exact);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn random_pictures_have_the_reference_edges_given_the_same_blur(
            width in 3usize..48, height in 3usize..48, seed in any::<u64>(),
            low in 0f32..200.0, extra in 0f32..300.0,
        ) {
            // Smooth random pictures (noise blurred), so that there are real edges.
            // Steps 2 to 4 are compared exactly, on the one blurred picture: the
            // fixed-point blur's own tolerance (within 1 gray level of the f64 blur) is
            // blur.rs's to test. Through both blurs, a tiny picture can lose a few
            // percent of its pixels to one moved maximum and the chain hysteresis
            // follows from it (seen: 7 of 520 pixels of a 20 x 26 picture); the
            // fixture's end-to-end test above keeps the 99% bound on a real picture.
        let (fast, exact) = edges_on_one_blur(seed, (width, height), low, low + extra);
            prop_assert_eq!(fast, exact);
        }
    }
}
