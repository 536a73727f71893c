//! The 3 x 3 Sobel operator in 16-bit integers, with borders that repeat the edge pixel
//! (as imageproc's `filter_clamped` has them):
//! `gx = (right column - left column)` weighted 1, 2, 1 down the rows, and
//! `gy = (row below - row above)` weighted 1, 2, 1 along them; each within +/-1020.

use super::simd;

/// The horizontal and vertical Sobel gradients of a gray picture, one `i16` per pixel
/// each, row-major.
///
/// # Panics
/// When `src.len() != width * height`.
pub fn sobel(src: &[u8], width: usize, height: usize) -> (Vec<i16>, Vec<i16>) {
    assert_eq!(src.len(), width * height, "sobel: size");
    // Filled a row at a time with `extend_from_slice`: no zeroing first (a memset of
    // 1.8 MB per buffer at 1280 x 720; perf found the memsets at 10% of an edges frame).
    let mut gx = Vec::with_capacity(src.len());
    let mut gy = Vec::with_capacity(src.len());
    for_each_row(src, width, &mut |_, gx_row, gy_row| {
        gx.extend_from_slice(gx_row);
        gy.extend_from_slice(gy_row);
    });
    (gx, gy)
}

/// What [`for_each_row`] hands each row to: its index from the top, its gx, its gy.
pub(super) type RowSink<'a> = dyn FnMut(usize, &[i16], &[i16]) + 'a;

simd! {
    /// [`sobel`] a row at a time: `emit(y, gx, gy)` for each row y of `src` (`width`
    /// pixels wide) from the top, each row computed in L1 from three source rows, so
    /// that a caller which needs a few rows at once holds no whole-picture gradients.
    pub(super) fn for_each_row(src: &[u8], width: usize, emit: &mut RowSink) {
        if src.is_empty() {
            return;
        }
        let height = src.len() / width;
        // One row edge-padded to width + 2, as i16.
        let pad = |y: usize, out: &mut [i16]| {
            let row = &src[y * width..(y + 1) * width];
            out[0] = i16::from(row[0]);
            for (o, &p) in out[1..=width].iter_mut().zip(row) {
                *o = i16::from(p);
            }
            out[width + 1] = i16::from(row[width - 1]);
        };
        let (mut above, mut here, mut below) =
            (vec![0i16; width + 2], vec![0i16; width + 2], vec![0i16; width + 2]);
        let mut smooth = vec![0i16; width + 2];
        let mut diff = vec![0i16; width + 2];
        let (mut gx_row, mut gy_row) = (vec![0i16; width], vec![0i16; width]);
        pad(0, &mut here);
        pad(1.min(height - 1), &mut below);
        above.copy_from_slice(&here);
        for y in 0..height {
            if y > 0 {
                // The rows move up one: each source row is padded once.
                std::mem::swap(&mut above, &mut here);
                std::mem::swap(&mut here, &mut below);
                pad((y + 1).min(height - 1), &mut below);
            }
            for i in 0..width + 2 {
                smooth[i] = above[i] + 2 * here[i] + below[i];
                diff[i] = below[i] - above[i];
            }
            for x in 0..width {
                gx_row[x] = smooth[x + 2] - smooth[x];
                gy_row[x] = diff[x] + 2 * diff[x + 1] + diff[x + 2];
            }
            emit(y, &gx_row, &gy_row);
        }
    }
}

/// The Sobel gradient magnitude `sqrt(gx^2 + gy^2)`, rounded down and clamped to 255,
/// as the `sobel` filter shows it. Equal to imageproc 0.27's `sobel_gradients` clamped
/// to 255, pixel for pixel.
///
/// # Panics
/// When `src.len() != width * height`.
pub fn sobel_magnitude(src: &[u8], width: usize, height: usize) -> Vec<u8> {
    assert_eq!(src.len(), width * height, "sobel_magnitude: size");
    let mut out = Vec::with_capacity(src.len());
    let mut row = vec![0u8; width];
    for_each_row(src, width, &mut |_, gx, gy| {
        magnitude(gx, gy, &mut row);
        out.extend_from_slice(&row);
    });
    out
}

simd! {
    fn magnitude(gx: &[i16], gy: &[i16], out: &mut [u8]) {
        for ((o, &x), &y) in out.iter_mut().zip(gx).zip(gy) {
            let (x, y) = (f32::from(x), f32::from(y));
            // At most 2 * 1020^2: exact in f32, and its square root rounds down right.
            *o = (x * x + y * y).sqrt().min(255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use image::GrayImage;
    use proptest::prelude::*;

    use super::super::{fixture, luma, random_image};
    use super::*;

    fn imageproc_sobel(src: &[u8], width: usize, height: usize) -> Vec<u8> {
        let gray = GrayImage::from_raw(width as u32, height as u32, src.to_vec()).unwrap();
        imageproc::gradients::sobel_gradients(&gray)
            .pixels()
            .map(|p| p[0].min(255) as u8)
            .collect()
    }

    #[test]
    fn the_fixture_matches_imageproc_exactly() {
        let (rgb, width, height) = fixture();
        let mut gray = vec![0; width * height];
        luma(&rgb, &mut gray);
        assert_eq!(
            sobel_magnitude(&gray, width, height),
            imageproc_sobel(&gray, width, height)
        );
    }

    #[test]
    fn a_ramp_has_the_textbook_gradient() {
        // Each column 10 levels brighter than the one on its left: gx = 10 * 2 * 4 = 80
        // inside, 40 at the borders where the edge pixel repeats; gy = 0.
        let (width, height) = (6, 4);
        let src: Vec<u8> = (0..width * height)
            .map(|i| (i % width * 10) as u8)
            .collect();
        let (gx, gy) = sobel(&src, width, height);
        assert_eq!(&gx[..width], &[40, 80, 80, 80, 80, 40]);
        assert!(gy.iter().all(|&g| g == 0));
    }

    #[test]
    fn tiny_and_odd_sizes_stay_in_bounds() {
        for (width, height) in [(1, 1), (1, 7), (7, 1), (2, 2), (5, 3)] {
            let src = random_image((width * 7 + height) as u64, width * height);
            assert_eq!(
                sobel_magnitude(&src, width, height),
                imageproc_sobel(&src, width, height),
                "{width} x {height}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_images_match_imageproc(width in 1usize..48, height in 1usize..48, seed in any::<u64>()) {
            let src = random_image(seed, width * height);
            prop_assert_eq!(sobel_magnitude(&src, width, height), imageproc_sobel(&src, width, height));
        }
    }
}
