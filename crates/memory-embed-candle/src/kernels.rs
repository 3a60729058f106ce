//! The element-wise kernels of the packed BERT forward pass, on plain slices.
//!
//! Written so the compiler vectorises them: branch-free bodies over chunks, no libm calls
//! in inner loops (`exp` and `erf` are polynomial here), and every caller runs them inside
//! [`pulp::Arch::dispatch`], which compiles the inlined body for the best instruction set
//! the CPU has (AVX-512, AVX2+FMA, ...) and picks one at run time. All in f32, accurate to
//! about one ulp for `exp` and 7e-7 absolute for `erf` (the form PyTorch's vectorised
//! `erf` uses), so results stay within the golden test's tolerances.

/// e^x, accurate to about 1 ulp over the f32 range (Cephes `expf`): x = n ln2 + r with
/// |r| <= ln2/2, a degree-6 polynomial for e^r, and 2^n put straight into the exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer without a call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let er = p * r * r + r + 1.0;
    // 2^n from the bits of `shifted` (ROUND + n, n in its low mantissa bits): adding the
    // exponent bias and shifting into the exponent field leaves exactly (n + 127) << 23,
    // as the higher bits shift out. n is in [-126, 127] after the clamp, so 2^n is normal.
    // (A float-to-int `as` cast would saturate, which compilers do not vectorise.)
    let scale = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    er * scale
}

/// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7 in exact arithmetic,
/// < 7e-7 evaluated in f32), the form of PyTorch's vectorised `erf`.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_7;
    const A4: f32 = -1.453_152_1;
    const A5: f32 = 1.061_405_4;
    let z = x.abs();
    let t = 1.0 / (1.0 + P * z);
    let poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
    let y = 1.0 - poly * exp(-z * z);
    y.copysign(x)
}

/// In place: `x = gelu(x + bias)` per row, with the exact (erf) GELU of BERT.
#[inline(always)]
pub fn bias_gelu(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            let v = *x + b;
            *x = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// Layer norm parameters.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// Scale, one per feature.
    pub gamma: Vec<f32>,
    /// Shift, one per feature.
    pub beta: Vec<f32>,
    /// Added to the variance.
    pub eps: f32,
}

impl LayerNorm {
    /// In place over one row: `row = layer_norm(row)`, statistics in f32 as PyTorch does.
    #[inline(always)]
    pub fn apply(&self, row: &mut [f32]) {
        let n = row.len() as f32;
        let mean = sum(row) / n;
        let var = sum_sq_dev(row, mean) / n;
        let inv = 1.0 / (var + self.eps).sqrt();
        for ((x, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
            *x = (*x - mean) * inv * g + b;
        }
    }
}

/// Per row: `out = layer_norm(h + bias + residual)`.
#[inline(always)]
pub fn bias_residual_norm(
    out: &mut [f32],
    h: &[f32],
    residual: &[f32],
    bias: &[f32],
    norm: &LayerNorm,
) {
    let width = bias.len();
    for ((o, h), r) in out
        .chunks_exact_mut(width)
        .zip(h.chunks_exact(width))
        .zip(residual.chunks_exact(width))
    {
        for (((o, h), r), b) in o.iter_mut().zip(h).zip(r).zip(bias) {
            *o = h + b + r;
        }
        norm.apply(o);
    }
}

/// Sum with eight independent accumulators, so it vectorises.
#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// Sum of squared deviations from `mean`, eight accumulators.
#[inline(always)]
fn sum_sq_dev(xs: &[f32], mean: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += (x - mean) * (x - mean);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Largest value, eight accumulators.
#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    }
    acc.iter().fold(tail, |a, &b| if b > a { b } else { a })
}

/// Width of the register blocks of [`attention`]: one AVX-512 vector, two AVX2 vectors.
const LANES: usize = 16;

/// `acc[..] += x * row[..]` over one block, in registers.
#[inline(always)]
fn axpy(acc: &mut [f32; LANES], x: f32, row: &[f32]) {
    for (a, r) in acc.iter_mut().zip(row) {
        *a += x * r;
    }
}

/// Self-attention of one sequence, all heads: `qkv` holds its `len` rows of
/// `[q | k | v]` (each `heads * head_dim` wide, bias not yet added), `out` receives the
/// `len` rows of context (`heads * head_dim` wide). No mask: the sequence has no padding.
/// `scratch` is reused between calls to avoid allocations.
///
/// Per head: `scores = (q / sqrt(d)) kᵀ`, softmax, `out = scores v`. Both products run in
/// blocks of 16 outputs held in registers, with two accumulators to hide FMA latency; k is
/// stored transposed (and zero-padded to a multiple of 16 columns) so a block of 16 scores
/// reads contiguous memory.
#[inline(always)]
pub fn attention(
    qkv: &[f32],
    bias: &[f32],
    heads: usize,
    out: &mut [f32],
    scratch: &mut AttentionScratch,
) {
    let hidden = bias.len() / 3;
    let d = hidden / heads;
    let len = qkv.len() / (3 * hidden);
    let padded = len.div_ceil(LANES) * LANES;
    let scale = 1.0 / (d as f32).sqrt();
    let AttentionScratch { q, k_t, v, scores } = scratch;
    scores.resize(padded, 0.0);
    for h in 0..heads {
        let (qc, kc, vc) = (h * d, hidden + h * d, 2 * hidden + h * d);
        // Gather this head: q scaled, kᵀ padded with zeros, v padded to whole blocks.
        q.clear();
        k_t.clear();
        k_t.resize(d * padded, 0.0);
        v.clear();
        let dv = d.div_ceil(LANES) * LANES;
        for (j, row) in qkv.chunks_exact(3 * hidden).enumerate() {
            q.extend(
                row[qc..qc + d]
                    .iter()
                    .zip(&bias[qc..qc + d])
                    .map(|(x, b)| (x + b) * scale),
            );
            for t in 0..d {
                k_t[t * padded + j] = row[kc + t] + bias[kc + t];
            }
            v.extend(
                row[vc..vc + d]
                    .iter()
                    .zip(&bias[vc..vc + d])
                    .map(|(x, b)| x + b),
            );
            v.resize((j + 1) * dv, 0.0);
        }
        for (i, qi) in q.chunks_exact(d).enumerate() {
            // scores[j] = qi · k_j, sixteen j at a time.
            for (jb, block) in scores.chunks_exact_mut(LANES).enumerate() {
                let (mut even, mut odd) = ([0.0f32; LANES], [0.0f32; LANES]);
                let col = jb * LANES;
                for (tp, pair) in qi.chunks_exact(2).enumerate() {
                    let t = 2 * tp;
                    axpy(
                        &mut even,
                        pair[0],
                        &k_t[t * padded + col..t * padded + col + LANES],
                    );
                    axpy(
                        &mut odd,
                        pair[1],
                        &k_t[(t + 1) * padded + col..(t + 1) * padded + col + LANES],
                    );
                }
                if d % 2 == 1 {
                    let t = d - 1;
                    axpy(
                        &mut even,
                        qi[t],
                        &k_t[t * padded + col..t * padded + col + LANES],
                    );
                }
                for ((s, e), o) in block.iter_mut().zip(even).zip(odd) {
                    *s = e + o;
                }
            }
            let probs = &mut scores[..len];
            let m = max(probs);
            probs.iter_mut().for_each(|s| *s = exp(*s - m));
            let inv = 1.0 / sum(probs);
            // out_i = Σ_j p_j v_j, sixteen output features at a time.
            let o = &mut out[i * hidden + h * d..i * hidden + (h + 1) * d];
            for (fb, o_block) in o.chunks_mut(LANES).enumerate() {
                let (mut even, mut odd) = ([0.0f32; LANES], [0.0f32; LANES]);
                let col = fb * LANES;
                for (jp, pair) in probs.chunks_exact(2).enumerate() {
                    let j = 2 * jp;
                    axpy(&mut even, pair[0], &v[j * dv + col..j * dv + col + LANES]);
                    axpy(
                        &mut odd,
                        pair[1],
                        &v[(j + 1) * dv + col..(j + 1) * dv + col + LANES],
                    );
                }
                if len % 2 == 1 {
                    let j = len - 1;
                    axpy(&mut even, probs[j], &v[j * dv + col..j * dv + col + LANES]);
                }
                for ((o, e), od) in o_block.iter_mut().zip(even).zip(odd) {
                    *o = (e + od) * inv;
                }
            }
        }
    }
}

/// The kernels as [`pulp::WithSimd`] operations: `pulp::Arch::new().dispatch(op)` runs the
/// `#[inline(always)]` kernel inlined into a function compiled for the CPU's best
/// instruction set (a closure would not reliably be inlined there).
pub mod ops {
    use pulp::{Simd, WithSimd};

    use super::{AttentionScratch, LayerNorm};

    /// [`super::bias_gelu`].
    pub struct BiasGelu<'a> {
        /// Rows, changed in place.
        pub rows: &'a mut [f32],
        /// One bias per column.
        pub bias: &'a [f32],
    }

    impl WithSimd for BiasGelu<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) {
            super::bias_gelu(self.rows, self.bias);
        }
    }

    /// [`super::bias_residual_norm`].
    pub struct BiasResidualNorm<'a> {
        /// Output rows.
        pub out: &'a mut [f32],
        /// The layer's output rows.
        pub h: &'a [f32],
        /// The residual rows.
        pub residual: &'a [f32],
        /// One bias per column.
        pub bias: &'a [f32],
        /// The layer norm.
        pub norm: &'a LayerNorm,
    }

    impl WithSimd for BiasResidualNorm<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) {
            super::bias_residual_norm(self.out, self.h, self.residual, self.bias, self.norm);
        }
    }

    /// [`super::attention`].
    pub struct Attention<'a> {
        /// `[q | k | v]` rows of one sequence.
        pub qkv: &'a [f32],
        /// `[q | k | v]` bias.
        pub bias: &'a [f32],
        /// Number of heads.
        pub heads: usize,
        /// Context rows of the sequence.
        pub out: &'a mut [f32],
        /// Reused buffers.
        pub scratch: &'a mut AttentionScratch,
    }

    impl WithSimd for Attention<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) {
            super::attention(self.qkv, self.bias, self.heads, self.out, self.scratch);
        }
    }
}

/// Reusable buffers of [`attention`].
#[derive(Debug, Default)]
pub struct AttentionScratch {
    q: Vec<f32>,
    k_t: Vec<f32>,
    v: Vec<f32>,
    scores: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let rel = ((f64::from(exp(x)) - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
    }

    #[test]
    fn erf_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            worst = worst.max((f64::from(erf(x)) - erf64(f64::from(x))).abs());
            x += 0.001;
        }
        // 1.5e-7 in exact arithmetic; evaluating in f32 adds a few ulps of 1.
        assert!(worst < 1e-6, "worst absolute error {worst}");
    }

    /// erf in f64: its Taylor series below |x| = 4 (cancellation stays under 1e-9 there),
    /// ±1 beyond (erfc(4) = 1.5e-8).
    fn erf64(x: f64) -> f64 {
        if x.abs() >= 4.0 {
            return x.signum();
        }
        let mut term = x;
        let mut total = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            total += term / (2 * n + 1) as f64;
        }
        total * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn attention_matches_naive_softmax_attention() {
        // Odd sizes on purpose: 3 heads of 5 dims, 7 tokens (tails of every block loop).
        let (heads, d, len) = (3, 5, 7);
        let hidden = heads * d;
        let val = |i: usize| ((i * 7919) % 101) as f32 / 50.0 - 1.0;
        let qkv: Vec<f32> = (0..len * 3 * hidden).map(val).collect();
        let bias: Vec<f32> = (0..3 * hidden).map(|i| val(i + 13) / 4.0).collect();
        let mut out = vec![0.0; len * hidden];
        attention(
            &qkv,
            &bias,
            heads,
            &mut out,
            &mut AttentionScratch::default(),
        );
        let at = |tok: usize, col: usize| f64::from(qkv[tok * 3 * hidden + col] + bias[col]);
        for h in 0..heads {
            for i in 0..len {
                let scores: Vec<f64> = (0..len)
                    .map(|j| {
                        (0..d)
                            .map(|t| at(i, h * d + t) * at(j, hidden + h * d + t))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let m = scores.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for t in 0..d {
                    let want: f64 = (0..len)
                        .map(|j| e[j] / z * at(j, 2 * hidden + h * d + t))
                        .sum();
                    let got = f64::from(out[i * hidden + h * d + t]);
                    assert!(
                        (got - want).abs() < 1e-5,
                        "head {h} token {i} dim {t}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn layer_norm_matches_definition() {
        let norm = LayerNorm {
            gamma: vec![1.0, 2.0, 0.5, 1.0],
            beta: vec![0.0, 1.0, 0.0, -1.0],
            eps: 1e-12,
        };
        let mut row = vec![1.0, 2.0, 3.0, 4.0];
        norm.apply(&mut row);
        let inv = 1.0 / 1.25f32.sqrt();
        let want = [
            -1.5 * inv,
            -0.5 * inv * 2.0 + 1.0,
            0.5 * inv * 0.5,
            1.5 * inv - 1.0,
        ];
        for (a, b) in row.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{row:?}");
        }
    }
}
