//! The seed's formulas: importance at ingest, ranking at search. See `docs/scoring.md`.

mod calibration;
mod fusion;
mod hybrid;
mod importance;
mod neighbours;
mod period;
mod ranking;
mod signals;

pub use calibration::{
    CHANCE_BASE, CHANCE_GROWTH, SEMANTIC_WIDTH, calibrated, chance_cosine, similarity_relevance,
};
pub use fusion::{Fused, fuse};
pub use hybrid::HybridConfig;
pub use importance::{ImportanceConfig, ImportanceScorer};
pub use period::{NamedPeriod, QueryPeriod};
pub use ranking::{Ranked, Ranker, RankingConfig};
pub use signals::Signals;

use chrono::{DateTime, Utc};

/// Age in days (fractional) of `then` at `now`; 0 when `then` is in the future.
pub fn age_days(then: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let ms = (now - then).num_milliseconds();
    (ms.max(0) as f64) / 86_400_000.0
}

/// `exp(-age_days / time_constant_days)`: 1 for a fresh message, about 0.37 after one time
/// constant. The seed calls 7 days "a 1-week half-life"; the formula is the seed's.
pub fn decay(age_days: f64, time_constant_days: f64) -> f64 {
    (-age_days / time_constant_days).exp()
}
