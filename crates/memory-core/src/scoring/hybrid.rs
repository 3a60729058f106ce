//! The tunables of hybrid search.

use chrono::Duration;

use crate::error::FieldError;
use crate::text::Bm25;

/// Tunables of hybrid search. Defaults were chosen on the LoCoMo dev split, with a
/// leave-one-conversation-out check (docs/scoring.md). Every setter checks its value, so a
/// `HybridConfig` is always valid.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridConfig {
    lexical_weight: f64,
    bm25: Bm25,
    neighbour_weight: f64,
    neighbour_window: usize,
    timeline_limit: usize,
    lexical_limit: usize,
    session_weight: f64,
    session_gap: Duration,
    date_weight: f64,
    date_grace: Duration,
    speaker_weight: f64,
}

impl Default for HybridConfig {
    fn default() -> Self {
        Self {
            lexical_weight: 0.5,
            bm25: Bm25::new(1.2, 0.0).unwrap_or_default(),
            neighbour_weight: 0.25,
            neighbour_window: 2,
            timeline_limit: 10_000,
            lexical_limit: 300,
            session_weight: 0.8,
            session_gap: Duration::hours(1),
            date_weight: 0.3,
            date_grace: Duration::days(7),
            speaker_weight: 0.25,
        }
    }
}

fn unit_interval(field: &str, v: f64) -> Result<f64, FieldError> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(FieldError::new(
            field,
            format!("must be between 0 and 1, got {v}"),
        ))
    }
}

impl HybridConfig {
    /// Weight of the lexical score in the fused score, in `[0, 1]`; the dense part gets the
    /// rest (default 0.5).
    pub fn lexical_weight(&self) -> f64 {
        self.lexical_weight
    }

    /// BM25 parameters (default k1 1.2, b 0: no length normalisation; chat turns vary in
    /// length less than documents do, and a long turn that names the thing asked about is no
    /// worse for it).
    pub fn bm25(&self) -> Bm25 {
        self.bm25
    }

    /// Each candidate gains this share, in `[0, 1]`, of the fused scores of its neighbours
    /// (default 0.25): turns next to a relevant turn are often the answer, or part of it.
    pub fn neighbour_weight(&self) -> f64 {
        self.neighbour_weight
    }

    /// How many places on each side, in the conversation's time order, count as neighbours
    /// (default 2).
    pub fn neighbour_window(&self) -> usize {
        self.neighbour_window
    }

    /// Conversations of at most this many messages have their time line read for neighbour
    /// smoothing (default 10,000); longer ones fall back to the candidates' own time order.
    pub fn timeline_limit(&self) -> usize {
        self.timeline_limit
    }

    /// Most lexical matches fetched per query, at least 1 (default 300: each is read whole,
    /// and 1,000 cost a whole-tenant search under load twice the time for 0.002 of dev R@5,
    /// docs/benchmarks.md).
    pub fn lexical_limit(&self) -> usize {
        self.lexical_limit
    }

    /// Each candidate gains this share, in `[0, 1]`, of the best fused score in its session
    /// (default 0.8): a conversation's turns close in time are about the same things, so the
    /// session of a strong match is where the rest of the answer is.
    pub fn session_weight(&self) -> f64 {
        self.session_weight
    }

    /// A silence longer than this between two candidates of a conversation starts a new
    /// session (default 1 hour).
    pub fn session_gap(&self) -> Duration {
        self.session_gap
    }

    /// When the query names a period ([`super::QueryPeriod`]), the messages written in it
    /// gain this share, in `[0, 1]`, of the best candidate's score (default 0.3).
    pub fn date_weight(&self) -> f64 {
        self.date_weight
    }

    /// How long after the named period a message still counts as written in it (default 7
    /// days: people talk about what happened last week).
    pub fn date_grace(&self) -> Duration {
        self.date_grace
    }

    /// When the query names a message's speaker (its metadata's `speaker`), the message
    /// gains this share, in `[0, 1]`, of the best candidate's score (default 0.25).
    pub fn speaker_weight(&self) -> f64 {
        self.speaker_weight
    }

    /// Sets [`Self::lexical_weight`].
    pub fn with_lexical_weight(mut self, w: f64) -> Result<Self, FieldError> {
        self.lexical_weight = unit_interval("lexical_weight", w)?;
        Ok(self)
    }

    /// Sets [`Self::bm25`].
    pub fn with_bm25(mut self, bm25: Bm25) -> Self {
        self.bm25 = bm25;
        self
    }

    /// Sets [`Self::neighbour_weight`].
    pub fn with_neighbour_weight(mut self, w: f64) -> Result<Self, FieldError> {
        self.neighbour_weight = unit_interval("neighbour_weight", w)?;
        Ok(self)
    }

    /// Sets [`Self::neighbour_window`].
    pub fn with_neighbour_window(mut self, places: usize) -> Self {
        self.neighbour_window = places;
        self
    }

    /// Sets [`Self::timeline_limit`].
    pub fn with_timeline_limit(mut self, messages: usize) -> Self {
        self.timeline_limit = messages;
        self
    }

    /// Sets [`Self::session_weight`] (0 turns the session signal off).
    pub fn with_session_weight(mut self, w: f64) -> Result<Self, FieldError> {
        self.session_weight = unit_interval("session_weight", w)?;
        Ok(self)
    }

    /// Sets [`Self::session_gap`] (not negative).
    pub fn with_session_gap(mut self, gap: Duration) -> Result<Self, FieldError> {
        if gap < Duration::zero() {
            return Err(FieldError::new("session_gap", "must not be negative"));
        }
        self.session_gap = gap;
        Ok(self)
    }

    /// Sets [`Self::date_weight`] (0 turns the date signal off).
    pub fn with_date_weight(mut self, w: f64) -> Result<Self, FieldError> {
        self.date_weight = unit_interval("date_weight", w)?;
        Ok(self)
    }

    /// Sets [`Self::speaker_weight`] (0 turns the speaker signal off).
    pub fn with_speaker_weight(mut self, w: f64) -> Result<Self, FieldError> {
        self.speaker_weight = unit_interval("speaker_weight", w)?;
        Ok(self)
    }

    /// Sets [`Self::lexical_limit`].
    pub fn with_lexical_limit(mut self, limit: usize) -> Result<Self, FieldError> {
        if limit == 0 {
            return Err(FieldError::new("lexical_limit", "must be at least 1"));
        }
        self.lexical_limit = limit;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        let c = HybridConfig::default();
        assert_eq!(c.lexical_weight(), 0.5);
        assert_eq!(
            c.clone().with_lexical_weight(1.5).expect_err("range").field,
            "lexical_weight"
        );
        assert!(c.clone().with_neighbour_weight(-0.1).is_err());
        assert!(c.clone().with_lexical_limit(0).is_err());
        assert!(c.clone().with_session_weight(1.1).is_err());
        assert!(c.clone().with_date_weight(-0.5).is_err());
        assert!(c.clone().with_session_gap(Duration::minutes(-1)).is_err());
        let c = c.with_lexical_weight(0.3).expect("valid");
        assert_eq!(c.lexical_weight(), 0.3);
    }
}
