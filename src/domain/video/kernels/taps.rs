//! The inner loop of the 16-bit blur: `out[i] = bias + hi(centre[i] * w0) +
//! sum over k of hi((left_k[i] + right_k[i]) * wk)`, where `hi` is the high half of a
//! 16 x 16-bit product (Q7 pixels, Q16 weights).
//!
//! With AVX2 it runs 16 lanes at a time and keeps the sum in a register across all the
//! taps, so each output vector is stored once. The plain loops (other CPUs, and the
//! tail) add each tap into `out` in turn; rustc 1.95's LLVM also widens their multiply
//! to 32-bit lanes instead of one `vpmulhuw`. The two agree exactly (tests).

/// The high half of `a * w`.
#[inline(always)]
pub(super) fn mul_high(a: u16, w: u16) -> u16 {
    ((u32::from(a) * u32::from(w)) >> 16) as u16
}

/// One tap pair: the samples `k` before and `k` after, lined up with the output.
pub(super) type Pair<'a> = (&'a [u16], &'a [u16]);

/// `out` from `centre` and `pairs` (`pairs[k - 1]` for offset `k`), with `weights[0]`
/// on the centre and `weights[k]` on pair `k`. Every slice is at least `out.len()`
/// long. The sums of a pair must fit 16 bits, and so must the total.
///
/// # Panics
/// When a slice is shorter than `out` or `weights` has fewer than `pairs.len() + 1`.
pub(super) fn convolve(
    centre: &[u16],
    pairs: &[Pair],
    weights: &[u16],
    bias: u16,
    out: &mut [u16],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::convolve(centre, pairs, weights, bias, out) };
    }
    plain(centre, pairs, weights, bias, out, 0);
}

/// [`convolve`] the plain way, for `out[from..]` only (the vector loop's tail).
#[inline(always)]
fn plain(centre: &[u16], pairs: &[Pair], weights: &[u16], bias: u16, out: &mut [u16], from: usize) {
    let n = out.len();
    let out = &mut out[from..];
    for (o, &q) in out.iter_mut().zip(&centre[from..n]) {
        *o = bias.wrapping_add(mul_high(q, weights[0]));
    }
    for (&(left, right), &w) in pairs.iter().zip(&weights[1..]) {
        for ((o, &l), &r) in out.iter_mut().zip(&left[from..n]).zip(&right[from..n]) {
            *o = o.wrapping_add(mul_high(l.wrapping_add(r), w));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{__m256i, _mm256_add_epi16, _mm256_mulhi_epu16, _mm256_set1_epi16};

    use super::Pair;

    const LANES: usize = 16;
    /// As many pairs as the 16-bit blur has at most (radius 16).
    const MAX_PAIRS: usize = 16;

    /// 16 lanes from `s[at..]`: a bounds-checked copy that compiles to one load.
    #[inline(always)]
    fn load(s: &[u16], at: usize) -> __m256i {
        let lanes: [u16; LANES] = s[at..at + LANES].try_into().expect("16 lanes");
        bytemuck::cast(lanes)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn convolve(
        centre: &[u16],
        pairs: &[Pair],
        weights: &[u16],
        bias: u16,
        out: &mut [u16],
    ) {
        let n = out.len();
        // The weights broadcast once; pairs beyond `MAX_PAIRS` take the plain loop.
        if pairs.len() > MAX_PAIRS {
            return super::plain(centre, pairs, weights, bias, out, 0);
        }
        let mut w = [_mm256_set1_epi16(0); MAX_PAIRS + 1];
        for (v, &weight) in w.iter_mut().zip(&weights[..=pairs.len()]) {
            *v = _mm256_set1_epi16(weight as i16);
        }
        let bias_v = _mm256_set1_epi16(bias as i16);
        let whole = n - n % LANES;
        for at in (0..whole).step_by(LANES) {
            let mut sum = _mm256_add_epi16(bias_v, _mm256_mulhi_epu16(load(centre, at), w[0]));
            for (&(left, right), &weight) in pairs.iter().zip(&w[1..]) {
                let pair = _mm256_add_epi16(load(left, at), load(right, at));
                sum = _mm256_add_epi16(sum, _mm256_mulhi_epu16(pair, weight));
            }
            out[at..at + LANES].copy_from_slice(&bytemuck::cast::<__m256i, [u16; LANES]>(sum));
        }
        super::plain(centre, pairs, weights, bias, out, whole);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_loop_agrees_with_the_plain_one() {
        let words = |seed: u64, len: usize| -> Vec<u16> {
            let bytes = super::super::random_image(seed, 2 * len);
            // At most 32767, so that two add up within 16 bits.
            bytes
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]) >> 1)
                .collect()
        };
        for len in [0, 1, 15, 16, 17, 33, 640] {
            let slices: Vec<Vec<u16>> = (0..9).map(|seed| words(seed, len + 3)).collect();
            for taps in 0..4 {
                let pairs: Vec<Pair> = (0..taps)
                    .map(|k| (&slices[1 + 2 * k][..], &slices[2 + 2 * k][..]))
                    .collect();
                let weights = [9000, 20000, 700, 65535];
                let (mut fast, mut slow) = (vec![0; len], vec![0; len]);
                convolve(&slices[0], &pairs, &weights, 3, &mut fast);
                plain(&slices[0], &pairs, &weights, 3, &mut slow, 0);
                assert_eq!(fast, slow, "{len} lanes, {taps} pairs");
            }
        }
    }
}
