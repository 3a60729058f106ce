//! Reduced-precision matmul: `x · W` with `x` and `W` rounded to bfloat16 and products
//! accumulated in f32, on the CPU's AVX-512 BF16 instructions (`vdpbf16ps`: 32 multiply-adds
//! per instruction, twice the f32 FMA's 16).
//!
//! bfloat16 keeps f32's exponent and 8 bits of mantissa, so every product is exact to about
//! 0.4% and every sum is an f32 sum: the sentence embeddings stay within a cosine of 1e-4 of
//! the f32 ones (the golden test checks it). Only the linear layers use it; attention,
//! GELU, layer norm and pooling stay f32 ([`crate::bert`]).
//!
//! The one `unsafe` of the crate lives here: the intrinsics need `#[target_feature]`
//! functions, entered only after [`is_supported`] has checked the CPU at run time, on
//! pointers whose bounds are checked before the loops (see each `SAFETY` note).
//!
//! Layout. `W` (`[k, n]`, row-major, i.e. the transposed weight the f32 path also uses) is
//! packed once at load time into panels of [`NR`] columns; inside a panel, row `p` holds for
//! each column the pair `(W[2p][j], W[2p + 1][j])` as one 32-bit word, the operand layout of
//! `vdpbf16ps`. A row of `x` in bf16 is the same pairs in plain row-major order, so each
//! pair is broadcast to 16 lanes and multiplied with 16 columns at once. The micro-kernel
//! holds an [`MR`] x [`NR`] block of the output in 24 registers.

/// Output columns per panel (three 16-lane vectors).
const NR: usize = 48;
/// Output rows per micro-kernel call.
const MR: usize = 8;
/// Rows of `x` converted and multiplied by one task.
const MC: usize = 64;

/// Whether this CPU runs the bf16 path (x86-64 with AVX-512F and AVX-512 BF16).
pub fn is_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// An f32 rounded to the nearest bfloat16 (ties to even), as its 16 bits.
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let rounding = 0x7FFF + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// The f32 a bfloat16 stands for.
pub fn from_bf16(x: u16) -> f32 {
    f32::from_bits(u32::from(x) << 16)
}

/// A `[k, n]` weight matrix packed for [`Bf16Matrix::matmul`].
#[derive(Clone)]
pub struct Bf16Matrix {
    k: usize,
    n: usize,
    /// `ceil(k / 2)`: rows of bf16 pairs.
    pairs: usize,
    /// `[panel][pair][NR]` words, zero beyond column `n` and row `k`.
    data: Vec<u32>,
}

impl std::fmt::Debug for Bf16Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bf16Matrix")
            .field("k", &self.k)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl Bf16Matrix {
    /// Packs `w`, a row-major `[k, n]` f32 matrix, rounding each value to bf16.
    ///
    /// # Panics
    /// If `w.len() != k * n`.
    pub fn pack(w: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(w.len(), k * n, "weight is not {k} x {n}");
        let pairs = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut data = vec![0u32; panels * pairs * NR];
        let at = |row: usize, col: usize| -> u32 {
            if row < k && col < n {
                u32::from(to_bf16(w[row * n + col]))
            } else {
                0
            }
        };
        for panel in 0..panels {
            for p in 0..pairs {
                let out = &mut data[(panel * pairs + p) * NR..][..NR];
                for (c, word) in out.iter_mut().enumerate() {
                    let col = panel * NR + c;
                    *word = at(2 * p, col) | (at(2 * p + 1, col) << 16);
                }
            }
        }
        Self { k, n, pairs, data }
    }

    /// Rows of the matrix (the input width).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns of the matrix (the output width).
    pub fn cols(&self) -> usize {
        self.n
    }

    /// `x · W` for `x`, a row-major `[m, k]` f32 matrix: a row-major `[m, n]` f32 matrix.
    /// Runs on the current rayon pool.
    ///
    /// # Panics
    /// If `x.len() != m * k`, or if the CPU lacks the instructions ([`is_supported`]).
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        assert_eq!(x.len(), m * self.k, "input is not {m} x {}", self.k);
        assert!(is_supported(), "this CPU has no AVX-512 BF16");
        let mut out = vec![0.0f32; m * self.n];
        if m == 0 || self.k == 0 {
            return out;
        }
        #[cfg(target_arch = "x86_64")]
        {
            use rayon::prelude::*;
            let (k, n) = (self.k, self.n);
            let panels = n.div_ceil(NR);
            // Few rows (a query, a small batch): split the columns too, so both cores work.
            let row_tasks = m.div_ceil(MC).max(1);
            let col_groups = (2 * rayon::current_num_threads())
                .div_ceil(row_tasks)
                .clamp(1, panels);
            let panels_per_group = panels.div_ceil(col_groups);
            out.par_chunks_mut(MC * n)
                .zip(x.par_chunks(MC * k))
                .for_each(|(out_rows, x_rows)| {
                    let rows = x_rows.len() / k.max(1);
                    let a = convert_rows(x_rows, rows, k, self.pairs);
                    if col_groups == 1 {
                        self.multiply(&a, rows, 0..panels, out_rows);
                        return;
                    }
                    // Column groups write disjoint columns of the same rows: give each its
                    // own buffer and copy the columns in.
                    let parts: Vec<(std::ops::Range<usize>, Vec<f32>)> = (0..col_groups)
                        .into_par_iter()
                        .map(|g| {
                            let first = g * panels_per_group;
                            let last = ((g + 1) * panels_per_group).min(panels);
                            let mut part = vec![0.0f32; rows * n];
                            if first < last {
                                self.multiply(&a, rows, first..last, &mut part);
                            }
                            (first * NR..(last * NR).min(n), part)
                        })
                        .collect();
                    for (cols, part) in parts {
                        for r in 0..rows {
                            let row = r * n;
                            out_rows[row + cols.start..row + cols.end]
                                .copy_from_slice(&part[row + cols.start..row + cols.end]);
                        }
                    }
                });
        }
        out
    }

    /// `a · W[:, panels]` into `out` (`[rows, n]`), `a` being `rows` rows of bf16 pairs.
    #[cfg(target_arch = "x86_64")]
    fn multiply(&self, a: &[u32], rows: usize, panels: std::ops::Range<usize>, out: &mut [f32]) {
        assert_eq!(a.len(), rows * self.pairs);
        assert_eq!(out.len(), rows * self.n);
        assert!(panels.end * self.pairs * NR <= self.data.len());
        for panel in panels {
            let b = &self.data[panel * self.pairs * NR..][..self.pairs * NR];
            let first_col = panel * NR;
            let width = (self.n - first_col).min(NR);
            let mut r = 0;
            while r < rows {
                let block = (rows - r).min(MR);
                let a_block = &a[r * self.pairs..(r + block) * self.pairs];
                let out_block = &mut out[r * self.n..(r + block - 1) * self.n + first_col + width];
                // SAFETY: `is_supported()` was asserted by `matmul`; `a_block` holds `block`
                // rows of `pairs` words, `b` one panel of `pairs * NR` words, and `out_block`
                // reaches column `first_col + width` of its `block`-th row: exactly what the
                // kernel reads and writes (checked again inside with debug assertions).
                unsafe {
                    kernel::dispatch(
                        block,
                        kernel::Tile {
                            a: a_block,
                            pairs: self.pairs,
                            b,
                            out: out_block,
                            ldc: self.n,
                            first_col,
                            width,
                        },
                    )
                };
                r += block;
            }
        }
    }
}

/// `rows` rows of `x` (`[rows, k]` f32) as bf16 pairs, `[rows, pairs]` words (zero-padded
/// when `k` is odd).
#[cfg(target_arch = "x86_64")]
fn convert_rows(x: &[f32], rows: usize, k: usize, pairs: usize) -> Vec<u32> {
    let mut a = vec![0u32; rows * pairs];
    for (src, dst) in x
        .chunks_exact(k.max(1))
        .zip(a.chunks_exact_mut(pairs.max(1)))
    {
        // SAFETY: `is_supported()` was asserted by `matmul`; `src` has `k` values and `dst`
        // `ceil(k / 2)` words, the bounds `convert_row` keeps to.
        unsafe { kernel::convert_row(src, dst) };
    }
    a
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// One row of f32 to bf16 pairs, 32 values per step.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 BF16; `dst.len() == src.len().div_ceil(2)`.
    #[target_feature(enable = "avx512f,avx512bf16,avx512bw")]
    pub(super) unsafe fn convert_row(src: &[f32], dst: &mut [u32]) {
        assert_eq!(dst.len(), src.len().div_ceil(2));
        let mut i = 0;
        while i < src.len() {
            let left = src.len() - i;
            // SAFETY (loads): the masks keep the loads inside `src[i..]`.
            let lo_mask: __mmask16 = if left >= 16 {
                0xFFFF
            } else {
                (1u16 << left) - 1
            };
            let hi_left = left.saturating_sub(16);
            let hi_mask: __mmask16 = if hi_left >= 16 {
                0xFFFF
            } else {
                (1u16 << hi_left) - 1
            };
            let lo = unsafe { _mm512_maskz_loadu_ps(lo_mask, src.as_ptr().add(i)) };
            let hi = if hi_mask == 0 {
                _mm512_setzero_ps()
            } else {
                unsafe { _mm512_maskz_loadu_ps(hi_mask, src.as_ptr().add(i + 16)) }
            };
            // SAFETY: both are 512 bits of plain data.
            let packed =
                unsafe { std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo)) };
            let words = left.min(32).div_ceil(2);
            let mask: __mmask16 = if words >= 16 {
                0xFFFF
            } else {
                (1u16 << words) - 1
            };
            // SAFETY: `words` words from `dst[i / 2..]`, inside `dst` by the length check.
            unsafe { _mm512_mask_storeu_epi32(dst.as_mut_ptr().add(i / 2).cast(), mask, packed) };
            i += 32;
        }
    }

    /// 32 bf16 values from their 512 bits.
    #[inline(always)]
    fn as_bf16(v: __m512i) -> __m512bh {
        // SAFETY: both are 512 bits of plain data, every bit pattern valid.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
    }

    /// One call's operands: `rows` rows of `a` (`pairs` words each) times one panel `b`
    /// (`pairs * NR` words) into columns `first_col..first_col + width` of `out`, whose rows
    /// are `ldc` apart.
    pub(super) struct Tile<'a> {
        pub a: &'a [u32],
        pub pairs: usize,
        pub b: &'a [u32],
        pub out: &'a mut [f32],
        pub ldc: usize,
        pub first_col: usize,
        pub width: usize,
    }

    /// Calls [`block`] with the number of rows as a constant.
    ///
    /// # Safety
    /// As [`block`].
    pub(super) unsafe fn dispatch(rows: usize, tile: Tile<'_>) {
        unsafe {
            match rows {
                8 => block::<8>(tile),
                7 => block::<7>(tile),
                6 => block::<6>(tile),
                5 => block::<5>(tile),
                4 => block::<4>(tile),
                3 => block::<3>(tile),
                2 => block::<2>(tile),
                1 => block::<1>(tile),
                _ => unreachable!("a block has 1 to {MR} rows"),
            }
        }
    }

    /// `out[r][first_col..first_col + width] = Σ_p a[r][p] · b[p][..width]` for `R` rows.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 BF16 (the bounds are asserted).
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn block<const R: usize>(tile: Tile<'_>) {
        let Tile {
            a,
            pairs,
            b,
            out,
            ldc,
            first_col,
            width,
        } = tile;
        assert!(a.len() >= R * pairs && b.len() >= pairs * NR && width <= NR);
        assert!(out.len() >= (R - 1) * ldc + first_col + width);
        let mut acc = [[_mm512_setzero_ps(); 3]; R];
        let (a, b) = (a.as_ptr(), b.as_ptr());
        for p in 0..pairs {
            // SAFETY: `p < pairs`, so `b[p * NR..][..NR]` is inside `b` (asserted above).
            let (b0, b1, b2) = unsafe {
                let row = b.add(p * NR);
                (
                    as_bf16(_mm512_loadu_si512(row.cast())),
                    as_bf16(_mm512_loadu_si512(row.add(16).cast())),
                    as_bf16(_mm512_loadu_si512(row.add(32).cast())),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `r < R` and `p < pairs`: inside `a` (asserted above).
                let pair = unsafe { *a.add(r * pairs + p) };
                let x = as_bf16(_mm512_set1_epi32(pair as i32));
                acc[0] = _mm512_dpbf16_ps(acc[0], x, b0);
                acc[1] = _mm512_dpbf16_ps(acc[1], x, b1);
                acc[2] = _mm512_dpbf16_ps(acc[2], x, b2);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let row = r * ldc + first_col;
            for (v, acc) in acc.iter().enumerate() {
                let start = v * 16;
                if start >= width {
                    break;
                }
                let n = (width - start).min(16);
                let mask: __mmask16 = if n == 16 { 0xFFFF } else { (1u16 << n) - 1 };
                // SAFETY: columns `row + start .. row + start + n` are inside `out`: the
                // last row reaches `first_col + width` (asserted above).
                unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(row + start), mask, *acc) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], w: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let round = |v: f32| from_bf16(to_bf16(v));
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += f64::from(round(x[i * k + p])) * f64::from(round(w[p * n + j]));
                }
                out[i * n + j] = s as f32;
            }
        }
        out
    }

    /// Deterministic values in [-2, 2).
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        assert_eq!(from_bf16(to_bf16(-3.5)), -3.5);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even mantissa, 1.
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        // Just above the tie rounds up.
        assert_eq!(
            from_bf16(to_bf16(1.0 + 1.0 / 256.0 + 1e-6)),
            1.0 + 1.0 / 128.0
        );
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        let x = 0.123_456_79_f32;
        assert!((from_bf16(to_bf16(x)) - x).abs() <= x * (1.0 / 256.0));
    }

    #[test]
    fn matmul_matches_the_bf16_reference_on_every_edge() {
        if !is_supported() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        // Rows not a multiple of MR or MC, odd k, columns not a multiple of NR, one row
        // (split by columns), and the model's shapes.
        for &(m, k, n) in &[
            (1, 384, 1152),
            (3, 5, 7),
            (13, 33, 49),
            (70, 384, 384),
            (131, 1536, 384),
            (64, 384, 1536),
            (9, 1, 1),
        ] {
            let x = values(m * k, (m * 31 + k) as u64);
            let w = values(k * n, (n * 17 + k) as u64);
            let packed = Bf16Matrix::pack(&w, k, n);
            assert_eq!((packed.rows(), packed.cols()), (k, n));
            let got = packed.matmul(&x, m);
            let want = reference(&x, &w, m, k, n);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                // Same bf16 products; only the f32 summation order differs.
                let tolerance = 1e-5 * (k as f32).sqrt() * 4.0 + 1e-5 * e.abs();
                assert!(
                    (g - e).abs() <= tolerance,
                    "({m}, {k}, {n}) element {i}: {g} vs {e}"
                );
            }
        }
    }

    #[test]
    fn matmul_of_zero_rows_is_empty() {
        if !is_supported() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        let packed = Bf16Matrix::pack(&values(6, 1), 2, 3);
        assert!(packed.matmul(&[], 0).is_empty());
    }
}
