//! Ranking at search: `0.6*similarity + 0.3*importance + 0.1*decay` (the seed).

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use super::calibration::similarity_relevance;
use super::fusion::Fused;
use super::{age_days, decay};
use crate::domain::{MinRelevance, SearchHit};
use crate::error::FieldError;
use crate::ports::Candidate;

/// Weights of the final score and the decay's time constant. Defaults are the seed's. The
/// setters check their values, so a `RankingConfig` is always valid.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingConfig {
    similarity_weight: f64,
    importance_weight: f64,
    decay_weight: f64,
    decay_days: f64,
    min_relevance: MinRelevance,
}

impl Default for RankingConfig {
    fn default() -> Self {
        Self {
            similarity_weight: 0.6,
            importance_weight: 0.3,
            decay_weight: 0.1,
            decay_days: 7.0,
            min_relevance: MinRelevance::DEFAULT,
        }
    }
}

/// A weight: finite and `>= 0`.
pub(crate) fn weight(field: &str, v: f64) -> Result<f64, FieldError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(FieldError::new(
            field,
            format!("must be a finite number >= 0, got {v}"),
        ))
    }
}

/// A time constant in days: finite and `> 0`.
pub(crate) fn days(field: &str, v: f64) -> Result<f64, FieldError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(FieldError::new(field, format!("must be > 0, got {v}")))
    }
}

impl RankingConfig {
    /// Weight of the relevance (cosine similarity in vector mode; default 0.6).
    pub fn similarity_weight(&self) -> f64 {
        self.similarity_weight
    }

    /// Weight of the stored importance (default 0.3).
    pub fn importance_weight(&self) -> f64 {
        self.importance_weight
    }

    /// Weight of `exp(-age_days / decay_days)` (default 0.1).
    pub fn decay_weight(&self) -> f64 {
        self.decay_weight
    }

    /// Time constant of the decay, in days (default 7).
    pub fn decay_days(&self) -> f64 {
        self.decay_days
    }

    /// The relevance threshold of searches that name none (default
    /// [`MinRelevance::DEFAULT`]).
    pub fn min_relevance(&self) -> MinRelevance {
        self.min_relevance
    }

    /// Sets [`Self::min_relevance`].
    pub fn with_min_relevance(mut self, min: MinRelevance) -> Self {
        self.min_relevance = min;
        self
    }

    /// Sets the three weights (each finite and `>= 0`).
    pub fn with_weights(
        mut self,
        similarity: f64,
        importance: f64,
        decay: f64,
    ) -> Result<Self, FieldError> {
        self.similarity_weight = weight("similarity_weight", similarity)?;
        self.importance_weight = weight("importance_weight", importance)?;
        self.decay_weight = weight("decay_weight", decay)?;
        Ok(self)
    }

    /// Sets the decay's time constant (`> 0`).
    pub fn with_decay_days(mut self, d: f64) -> Result<Self, FieldError> {
        self.decay_days = days("decay_days", d)?;
        Ok(self)
    }
}

/// Turns candidates into ranked hits.
#[derive(Debug, Clone, Default)]
pub struct Ranker {
    config: RankingConfig,
}

impl Ranker {
    /// A ranker with the given configuration.
    pub fn new(config: RankingConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &RankingConfig {
        &self.config
    }

    /// Scores one candidate of a vector search over a scope of `scope_size` memories: its
    /// similarity orders it, and its relevance is the similarity on the absolute scale.
    pub fn hit(&self, candidate: Candidate, now: DateTime<Utc>, scope_size: u64) -> SearchHit {
        self.fused_hit(vector_fused(candidate, scope_size), now)
    }

    /// Scores one fused candidate: `w_sim*order + w_imp*importance + w_decay*decay`.
    pub fn fused_hit(&self, fused: Fused, now: DateTime<Utc>) -> SearchHit {
        let c = &self.config;
        let decay = decay(age_days(fused.message.created_at, now), c.decay_days);
        let importance = fused.message.importance_score.value();
        let score = c.similarity_weight * fused.order
            + c.importance_weight * importance
            + c.decay_weight * decay;
        let mut message = fused.message;
        message.embedding = None;
        SearchHit {
            message,
            score,
            similarity: fused.similarity,
            decay,
            importance,
            lexical: fused.lexical,
            fusion: fused.order,
            signals: fused.signals,
            relevance: fused.relevance,
        }
    }

    /// Scores fused candidates, sorts and keeps the best `top_k` that reach `min_relevance`,
    /// as [`Ranker::rank`].
    pub fn rank_fused(
        &self,
        candidates: Vec<Fused>,
        now: DateTime<Utc>,
        top_k: usize,
        min_relevance: f64,
    ) -> Ranked {
        let hits = candidates
            .into_iter()
            .map(|c| {
                let support = c.support;
                (self.fused_hit(c, now), support)
            })
            .collect();
        best(hits, top_k, min_relevance)
    }

    /// Scores every candidate, sorts by score (best first; ties: more similar, then newer,
    /// then by id, so results are deterministic) and keeps the best `top_k` whose relevance
    /// reaches `min_relevance`. The scope's size is not known to a vector search: the number
    /// of candidates stands in (a lower bound: all of the scope when fewer than asked).
    pub fn rank(
        &self,
        candidates: Vec<Candidate>,
        now: DateTime<Utc>,
        top_k: usize,
        min_relevance: f64,
    ) -> Ranked {
        let scope_size = candidates.len() as u64;
        let fused = candidates
            .into_iter()
            .map(|c| vector_fused(c, scope_size))
            .collect();
        self.rank_fused(fused, now, top_k, min_relevance)
    }
}

/// A vector search's candidate as a fused one: ordered by its similarity, relevant by the
/// similarity on the absolute scale (its own support: vector search shares nothing between
/// neighbours).
fn vector_fused(candidate: Candidate, scope_size: u64) -> Fused {
    let relevance = similarity_relevance(candidate.similarity, scope_size);
    Fused {
        relevance,
        support: relevance,
        order: candidate.similarity,
        similarity: candidate.similarity,
        lexical: None,
        signals: None,
        message: candidate.message,
    }
}

/// The hits of a search, and how many of the best `top_k` fell below `min_relevance`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ranked {
    /// Best first, at most `top_k`, each reaching `min_relevance`.
    pub hits: Vec<SearchHit>,
    /// How many of the `top_k` best-scored candidates were dropped for falling below
    /// `min_relevance` (their places went to the next ones that reach it).
    pub below_min_relevance: usize,
}

/// Sorts `(hit, support)` pairs and keeps the best `top_k` whose support reaches
/// `min_relevance`.
fn best(mut hits: Vec<(SearchHit, f64)>, top_k: usize, min_relevance: f64) -> Ranked {
    hits.sort_by(|a, b| compare_hits(&a.0, &b.0));
    let below_min_relevance = hits
        .iter()
        .take(top_k)
        .filter(|(_, s)| *s < min_relevance)
        .count();
    let hits = hits
        .into_iter()
        .filter(|(_, s)| *s >= min_relevance)
        .map(|(h, _)| h)
        .take(top_k)
        .collect();
    Ranked {
        hits,
        below_min_relevance,
    }
}

fn compare_hits(a: &SearchHit, b: &SearchHit) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| b.similarity.total_cmp(&a.similarity))
        .then_with(|| b.message.created_at.cmp(&a.message.created_at))
        .then_with(|| a.message.id.cmp(&b.message.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Fixture, t0};
    use chrono::Duration;

    fn cand(sim: f64, importance: f64, age_days: i64) -> Candidate {
        Candidate {
            message: Fixture::new("t", "c", 2)
                .importance(importance)
                .created(t0() - Duration::days(age_days))
                .build(),
            similarity: sim,
        }
    }

    #[test]
    fn score_is_the_seed_formula() {
        let hit = Ranker::default().hit(cand(0.92, 0.72, 2), t0(), 10);
        let decay = (-2.0f64 / 7.0).exp();
        assert!((hit.decay - decay).abs() < 1e-12);
        assert!((hit.score - (0.6 * 0.92 + 0.3 * 0.72 + 0.1 * decay)).abs() < 1e-12);
        assert_eq!((hit.similarity, hit.importance), (0.92, 0.72));
    }

    #[test]
    fn rank_sorts_by_score_and_truncates() {
        let hits = Ranker::default()
            .rank(
                vec![
                    cand(0.5, 0.5, 0),
                    cand(0.9, 0.5, 0),
                    cand(0.7, 0.5, 0),
                    cand(0.1, 1.0, 0),
                ],
                t0(),
                2,
                0.0,
            )
            .hits;
        let sims: Vec<f64> = hits.iter().map(|h| h.similarity).collect();
        assert_eq!(sims, [0.9, 0.7]);
    }

    #[test]
    fn importance_and_recency_can_outrank_similarity() {
        // 0.6*0.80 + 0.3*0.1 + 0.1*e^-10 = 0.510 vs 0.6*0.70 + 0.3*0.9 + 0.1*1 = 0.790
        let hits = Ranker::default()
            .rank(vec![cand(0.80, 0.1, 70), cand(0.70, 0.9, 0)], t0(), 2, 0.0)
            .hits;
        assert_eq!(hits[0].similarity, 0.70);
    }

    #[test]
    fn weights_are_configurable() {
        let r = Ranker::new(
            RankingConfig::default()
                .with_weights(1.0, 0.0, 0.0)
                .expect("valid"),
        );
        let hits = r
            .rank(vec![cand(0.80, 0.1, 70), cand(0.70, 0.9, 0)], t0(), 2, 0.0)
            .hits;
        assert_eq!(hits[0].similarity, 0.80);
        assert!((hits[0].score - 0.8).abs() < 1e-12);
    }

    #[test]
    fn ties_break_deterministically() {
        let a = cand(0.5, 0.5, 1);
        let b = cand(0.5, 0.5, 1);
        let first = Ranker::default()
            .rank(vec![a.clone(), b.clone()], t0(), 2, 0.0)
            .hits;
        let second = Ranker::default().rank(vec![b, a], t0(), 2, 0.0).hits;
        assert_eq!(first[0].message.id, second[0].message.id);
    }

    #[test]
    fn min_relevance_drops_the_unrelated_and_counts_them() {
        // Among 3 candidates chance reaches a cosine of about 0.29: 0.9 is relevant, 0.36
        // still clearly above chance, 0.1 not.
        let candidates = vec![cand(0.9, 0.5, 0), cand(0.36, 0.5, 0), cand(0.1, 1.0, 0)];
        let ranked = Ranker::default().rank(candidates.clone(), t0(), 3, 0.3);
        let sims: Vec<f64> = ranked.hits.iter().map(|h| h.similarity).collect();
        assert_eq!(sims, [0.9, 0.36]);
        assert_eq!(ranked.below_min_relevance, 1);
        assert!((ranked.hits[1].relevance - similarity_relevance(0.36, 3)).abs() < 1e-12);
        // Only the top_k count: with top_k 1 nothing of the best 1 was dropped.
        let ranked = Ranker::default().rank(candidates.clone(), t0(), 1, 0.3);
        assert_eq!((ranked.hits.len(), ranked.below_min_relevance), (1, 0));
        // Nothing reaches 0.99 but an exact match: an answer may be empty, and says why.
        let ranked = Ranker::default().rank(candidates[1..].to_vec(), t0(), 5, 0.99);
        assert_eq!((ranked.hits.len(), ranked.below_min_relevance), (0, 2));
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let c = RankingConfig::default();
        assert_eq!(
            c.clone().with_decay_days(-1.0).expect_err("days").field,
            "decay_days"
        );
        assert_eq!(
            c.with_weights(f64::NAN, 0.3, 0.1).expect_err("nan").field,
            "similarity_weight"
        );
    }
}
