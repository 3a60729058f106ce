//! Relevance on an absolute scale: what a search's `relevance` and `min_relevance` mean
//! (docs/scoring.md, "Relevance and min_relevance").
//!
//! The dense half asks how far a cosine stands above what chance gives. Among `n` memories
//! unrelated to a query, the best cosine grows with `n` (the maximum of `n` draws): with
//! all-MiniLM-L6-v2, unrelated question-memory pairs have cosines of mean 0.105 and standard
//! deviation 0.096, and the best of 3 reaches 0.29 one time in ten, the best of 100, 0.40.
//! [`chance_cosine`] follows that line; [`similarity_relevance`] is a logistic curve around
//! it. A cosine of 0.36 ("what food must I avoid?" against "I am allergic to peanuts") is
//! then clearly relevant among 3 memories and no better than chance among 600.

/// The cosine the best of `n` unrelated memories reaches about one time in ten, for `n >= 2`:
/// `CHANCE_BASE + CHANCE_GROWTH * sqrt(2 ln n)` (the growth of the maximum of `n` draws).
pub fn chance_cosine(n: u64) -> f64 {
    let n = n.max(2) as f64;
    CHANCE_BASE + CHANCE_GROWTH * (2.0 * n.ln()).sqrt()
}

/// See [`chance_cosine`]; fitted on the LoCoMo dev split (questions against the turns of
/// other conversations, docs/scoring.md).
pub const CHANCE_BASE: f64 = 0.19;
/// See [`chance_cosine`].
pub const CHANCE_GROWTH: f64 = 0.07;
/// Width of the logistic curve of [`similarity_relevance`], in cosine.
pub const SEMANTIC_WIDTH: f64 = 0.06;

/// A cosine similarity on the relevance scale, in (0, 1), for a search over a scope of
/// `scope_size` memories: 0.5 at [`chance_cosine`], about 0.84 a tenth of a cosine above it,
/// about 0.16 a tenth below.
pub fn similarity_relevance(similarity: f64, scope_size: u64) -> f64 {
    let z = (similarity - chance_cosine(scope_size)) / SEMANTIC_WIDTH;
    1.0 / (1.0 + (-z).exp())
}

/// The absolute relevance of a message from its similarity and its lexical coverage (both on
/// fixed scales), in a scope of `scope_size` memories:
/// `w * coverage + (1 - w) * similarity_relevance(similarity, scope_size)`.
pub fn calibrated(similarity: f64, coverage: f64, lexical_weight: f64, scope_size: u64) -> f64 {
    (lexical_weight * coverage
        + (1.0 - lexical_weight) * similarity_relevance(similarity, scope_size))
    .clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_rises_with_the_number_of_memories() {
        assert!((chance_cosine(3) - (0.19 + 0.07 * (2.0 * 3f64.ln()).sqrt())).abs() < 1e-12);
        assert_eq!(chance_cosine(0), chance_cosine(2), "at least two");
        assert!(chance_cosine(3) < chance_cosine(600));
        assert!(chance_cosine(600) < chance_cosine(1_000_000));
    }

    #[test]
    fn the_semantic_curve() {
        let at = chance_cosine(600);
        assert!((similarity_relevance(at, 600) - 0.5).abs() < 1e-12);
        assert!(similarity_relevance(at + 0.1, 600) > 0.83);
        assert!(similarity_relevance(at - 0.1, 600) < 0.17);
        // The peanuts example: relevant among 3 memories, chance among 600.
        assert!(similarity_relevance(0.357, 3) > 0.7);
        assert!(similarity_relevance(0.357, 600) < 0.25);
        // Unrelated: "recipe for banana bread" against "My dog is called Biscuit".
        assert!(similarity_relevance(0.207, 2) < 0.3);
        assert!(similarity_relevance(0.95, 1_000_000) > 0.99);
    }

    #[test]
    fn the_fusion_is_a_weighted_mean() {
        let s = similarity_relevance(0.5, 10);
        assert!((calibrated(0.5, 1.0, 0.5, 10) - (0.5 + 0.5 * s)).abs() < 1e-12);
        assert!((calibrated(0.5, 0.0, 0.0, 10) - s).abs() < 1e-12);
        assert_eq!(calibrated(0.5, 0.4, 1.0, 10), 0.4);
    }
}
