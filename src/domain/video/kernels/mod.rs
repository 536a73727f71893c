//! Fast pixel kernels for the video filters, on plain byte slices (row-major, channels
//! interleaved): luma, a fixed-point separable Gaussian blur, an integer Sobel,
//! Canny's edges, and halving (the mean of each 2 x 2).
//!
//! Written so that the compiler vectorizes their inner loops: each loop runs over a whole
//! row with no branch, on integers. A macro, `simd!`, compiles a kernel twice, for the baseline
//! x86-64 (SSE2) and for AVX2, and picks the AVX2 one at run time when the CPU has it;
//! other targets get the portable one. One loop is written with AVX2 intrinsics instead
//! (`taps`, the blur's multiply-accumulate): there the compiler widened the 16-bit
//! multiply to 32-bit lanes and kept the sum in memory between taps.
//!
//! Each kernel is checked against a straightforward reference in its tests (random
//! images, the fixture, and 1 x 1, 1 x N and odd sizes), with the tolerance stated there.

mod blur;
mod canny;
mod halve;
mod sobel;
mod taps;

pub use blur::{gaussian_blur, gaussian_kernel_q15, kernel_radius};
pub use canny::canny;
pub use halve::halved;
pub use sobel::{sobel, sobel_magnitude};

/// Defines `fn $name(args) -> ret` that runs `$body` compiled for AVX2 when the CPU has
/// it, else for the target's baseline. The body must be safe code; only the dispatch is
/// `unsafe` (calling a function compiled for a feature the CPU was just checked to have).
macro_rules! simd {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? { portable($($arg),*) }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}
pub(crate) use simd;

simd! {
    /// Luma of RGB8 pixels, ITU-R BT.709 weights (0.2126, 0.7152, 0.0722, as the image
    /// crate uses) in 16-bit fixed point, rounded: `out[i]` from `rgb[3i..3i + 3]`.
    /// Within 1 gray level of `(2126 r + 7152 g + 722 b) / 10000`.
    ///
    /// # Panics
    /// When `rgb.len() != 3 * out.len()`.
    pub fn luma(rgb: &[u8], out: &mut [u8]) {
        assert_eq!(rgb.len(), out.len() * 3, "luma: 3 bytes in per byte out");
        // 0.2126, 0.7152 and 0.0722 of 65536, summing to exactly 65536.
        const R: u32 = 13933;
        const G: u32 = 46871;
        const B: u32 = 4732;
        for (pixel, gray) in rgb.chunks_exact(3).zip(out.iter_mut()) {
            let sum = R * u32::from(pixel[0]) + G * u32::from(pixel[1]) + B * u32::from(pixel[2]);
            *gray = ((sum + (1 << 15)) >> 16) as u8;
        }
    }
}

/// [`luma`] into a new buffer, 4096 pixels at a time through a block in L1 appended
/// with a memcpy, rather than into a zeroed buffer (a memset of the whole picture).
///
/// # Panics
/// When `rgb.len()` is not a multiple of 3.
pub fn luma_of(rgb: &[u8]) -> Vec<u8> {
    assert_eq!(rgb.len() % 3, 0, "luma_of: 3 bytes per pixel");
    let mut out = Vec::with_capacity(rgb.len() / 3);
    let mut block = [0u8; 4096];
    for pixels in rgb.chunks(3 * block.len()) {
        let gray = &mut block[..pixels.len() / 3];
        luma(pixels, gray);
        out.extend_from_slice(gray);
    }
    out
}

/// A small deterministic pseudo-random generator (SplitMix64) for the kernels' tests.
#[cfg(test)]
pub(crate) fn random_image(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// The fixture photo (tests/fixtures/rocket.jpg, 160 x 120) as RGB8.
#[cfg(test)]
pub(crate) fn fixture() -> (Vec<u8>, usize, usize) {
    let photo = image::load_from_memory(include_bytes!("../../../../tests/fixtures/rocket.jpg"))
        .expect("the fixture decodes")
        .to_rgb8();
    let (width, height) = (photo.width() as usize, photo.height() as usize);
    (photo.into_raw(), width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_is_within_one_level_of_bt709() {
        let rgb = random_image(7, 3 * 10_000);
        let mut out = vec![0; 10_000];
        luma(&rgb, &mut out);
        for (pixel, &gray) in rgb.chunks_exact(3).zip(&out) {
            let [r, g, b] = [pixel[0], pixel[1], pixel[2]].map(f64::from);
            let exact = (0.2126 * r + 0.7152 * g + 0.0722 * b).round();
            assert!(
                (f64::from(gray) - exact).abs() <= 1.0,
                "{pixel:?} -> {gray}"
            );
        }
        assert_eq!(luma_of(&rgb), out, "luma_of gives what luma writes");
        let mut white = [0];
        luma(&[255, 255, 255], &mut white);
        assert_eq!(white, [255]);
    }
}
