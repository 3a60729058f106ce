//! Sentence embeddings and the cosine similarity the ranking uses.

use std::sync::Arc;

use crate::error::{FieldError, RepositoryError};

/// A sentence embedding: a fixed number of finite `f32` values. Cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(Arc<[f32]>);

impl Embedding {
    /// Validates `values` against the expected dimension; every value must be finite.
    pub fn new(values: Vec<f32>, dimension: usize) -> Result<Self, FieldError> {
        if values.len() != dimension {
            return Err(FieldError::new(
                "embedding",
                format!("must have {dimension} dimensions, got {}", values.len()),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(FieldError::new(
                "embedding",
                format!("value {i} is not a finite number"),
            ));
        }
        Ok(Self(values.into()))
    }

    /// The values.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// The number of dimensions.
    pub fn dimension(&self) -> usize {
        self.0.len()
    }

    /// The one dimension check: `Ok` when the embedding has `expected` values, else the
    /// store's [`RepositoryError::DimensionMismatch`] naming both numbers.
    pub fn check_dimension(&self, expected: usize) -> Result<(), RepositoryError> {
        if self.dimension() == expected {
            Ok(())
        } else {
            Err(RepositoryError::DimensionMismatch {
                expected,
                got: self.dimension(),
            })
        }
    }

    /// Cosine similarity with `other`, in `[-1, 1]` (0 when either is all zeros).
    pub fn cosine(&self, other: &Embedding) -> f32 {
        cosine_similarity(&self.0, &other.0)
    }
}

/// Cosine similarity of two equally long vectors; 0 when either has zero norm.
///
/// Written as eight independent accumulators so the compiler vectorises it (no `unsafe`,
/// no target features needed). Lengths must match; extra elements of the longer are ignored.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut dot = [0.0f32; LANES];
    let mut na = [0.0f32; LANES];
    let mut nb = [0.0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let x = &a[c * LANES..(c + 1) * LANES];
        let y = &b[c * LANES..(c + 1) * LANES];
        for i in 0..LANES {
            dot[i] += x[i] * y[i];
            na[i] += x[i] * x[i];
            nb[i] += y[i] * y[i];
        }
    }
    let (mut d, mut sa, mut sb) = (
        dot.iter().sum::<f32>(),
        na.iter().sum::<f32>(),
        nb.iter().sum::<f32>(),
    );
    for i in chunks * LANES..n {
        d += a[i] * b[i];
        sa += a[i] * a[i];
        sb += b[i] * b[i];
    }
    if sa == 0.0 || sb == 0.0 {
        return 0.0;
    }
    (d / (sa.sqrt() * sb.sqrt())).clamp(-1.0, 1.0)
}
