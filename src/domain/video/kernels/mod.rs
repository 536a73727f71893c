//! Fast pixel kernels for the video filters, on plain byte slices (row-major, channels
//! interleaved): luma, a fixed-point separable Gaussian blur, an integer Sobel,
//! Canny's edges, halving (the mean of each 2 x 2), and resizing by bilinear
//! interpolation.
//!
//! Written so that the compiler vectorizes their inner loops: each loop runs over a whole
//! row with no branch, on integers. A macro, `simd!`, compiles a kernel twice, for the baseline
//! x86-64 (SSE2) and for AVX2, and picks the AVX2 one at run time when the CPU has it;
//! other targets get the portable one. Three loops are written with AVX2 intrinsics
//! instead: `taps`, the blur's multiply-accumulate (the compiler widened the 16-bit
//! multiply to 32-bit lanes and kept the sum in memory between taps), `luma` (its
//! de-interleaving of RGB took 1.6 times as long), and the resize's horizontal blend
//! (a gather, which the compiler does not write for byte samples).
//!
//! Each kernel is checked against a straightforward reference in its tests (random
//! images, the fixture, and 1 x 1, 1 x N and odd sizes), with the tolerance stated there.

mod bilinear;
mod blur;
mod canny;
mod halve;
mod luma;
mod sobel;
mod taps;

pub use bilinear::bilinear;
#[cfg(test)]
pub(crate) use bilinear::reference as bilinear_reference;
pub use blur::{gaussian_blur, gaussian_kernel_q15, kernel_radius};
pub use canny::canny;
pub use halve::halved;
pub use luma::{luma, luma_of};
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
