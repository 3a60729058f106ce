//! Importance at ingest: recency 40%, role 20%, explicit 40% (the seed).

use chrono::{DateTime, Utc};

use super::{age_days, decay};
use crate::domain::{Importance, Role};
use crate::error::FieldError;
use crate::scoring::ranking::{days, weight};

/// Weights and curves of the importance score. Defaults are the seed's; see
/// `docs/scoring.md`. The setters check their values, so an `ImportanceConfig` is always
/// valid.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceConfig {
    recency_weight: f64,
    role_weight: f64,
    explicit_weight: f64,
    system_value: f64,
    user_value: f64,
    assistant_value: f64,
    recency_days: f64,
    default_explicit: f64,
}

impl Default for ImportanceConfig {
    fn default() -> Self {
        Self {
            recency_weight: 0.4,
            role_weight: 0.2,
            explicit_weight: 0.4,
            system_value: 0.9,
            user_value: 0.7,
            assistant_value: 0.5,
            recency_days: 7.0,
            default_explicit: 0.5,
        }
    }
}

impl ImportanceConfig {
    /// Weights of recency, role and the client's explicit importance (default 0.4, 0.2, 0.4).
    pub fn weights(&self) -> (f64, f64, f64) {
        (self.recency_weight, self.role_weight, self.explicit_weight)
    }

    /// Role values of system, user and assistant messages (default 0.9, 0.7, 0.5).
    pub fn role_values(&self) -> (f64, f64, f64) {
        (self.system_value, self.user_value, self.assistant_value)
    }

    /// Recency is `exp(-age_days / recency_days)`; default 7, as the search decay.
    pub fn recency_days(&self) -> f64 {
        self.recency_days
    }

    /// Explicit part when the client gives none: 0.5, neutral (default).
    pub fn default_explicit(&self) -> f64 {
        self.default_explicit
    }

    /// Sets the weights of recency, role and explicit importance (finite, `>= 0`).
    pub fn with_weights(
        mut self,
        recency: f64,
        role: f64,
        explicit: f64,
    ) -> Result<Self, FieldError> {
        self.recency_weight = weight("recency_weight", recency)?;
        self.role_weight = weight("role_weight", role)?;
        self.explicit_weight = weight("explicit_weight", explicit)?;
        Ok(self)
    }

    /// Sets the role values of system, user and assistant messages (finite, `>= 0`).
    pub fn with_role_values(
        mut self,
        system: f64,
        user: f64,
        assistant: f64,
    ) -> Result<Self, FieldError> {
        self.system_value = weight("system_value", system)?;
        self.user_value = weight("user_value", user)?;
        self.assistant_value = weight("assistant_value", assistant)?;
        Ok(self)
    }

    /// Sets the recency time constant (`> 0`).
    pub fn with_recency_days(mut self, d: f64) -> Result<Self, FieldError> {
        self.recency_days = days("recency_days", d)?;
        Ok(self)
    }

    /// Sets the explicit part used when the client gives none (finite, `>= 0`).
    pub fn with_default_explicit(mut self, v: f64) -> Result<Self, FieldError> {
        self.default_explicit = weight("default_explicit", v)?;
        Ok(self)
    }
}

/// Scores a message's importance when it is ingested.
#[derive(Debug, Clone, Default)]
pub struct ImportanceScorer {
    config: ImportanceConfig,
}

impl ImportanceScorer {
    /// A scorer with the given configuration.
    pub fn new(config: ImportanceConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &ImportanceConfig {
        &self.config
    }

    /// The role's value.
    pub fn role_value(&self, role: Role) -> f64 {
        match role {
            Role::System => self.config.system_value,
            Role::User => self.config.user_value,
            Role::Assistant => self.config.assistant_value,
        }
    }

    /// `recency_weight * exp(-age/recency_days) + role_weight * role + explicit_weight *
    /// (explicit or default_explicit)`, clamped to `[0, 1]`.
    pub fn score(
        &self,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        role: Role,
        explicit: Option<Importance>,
    ) -> Importance {
        let c = &self.config;
        let recency = decay(age_days(created_at, now), c.recency_days);
        let explicit = explicit.map_or(c.default_explicit, |i| i.value());
        Importance::saturating(
            c.recency_weight * recency
                + c.role_weight * self.role_value(role)
                + c.explicit_weight * explicit,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-14T20:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("valid date")
    }

    #[test]
    fn seed_test_fresh_system_beats_two_day_old_assistant() {
        let s = ImportanceScorer::default();
        let recent = s.score(now(), now(), Role::System, None);
        let old = s.score(now() - Duration::days(2), now(), Role::Assistant, None);
        assert!(recent > old, "{recent:?} vs {old:?}");
    }

    #[test]
    fn fresh_messages_without_override_score_by_role() {
        let s = ImportanceScorer::default();
        let v = |r| s.score(now(), now(), r, None).value();
        // 0.4*1 + 0.2*role + 0.4*0.5
        assert!((v(Role::System) - 0.78).abs() < 1e-12);
        assert!((v(Role::User) - 0.74).abs() < 1e-12);
        assert!((v(Role::Assistant) - 0.70).abs() < 1e-12);
    }

    #[test]
    fn explicit_importance_weighs_forty_percent() {
        let s = ImportanceScorer::default();
        let hi = s.score(
            now(),
            now(),
            Role::User,
            Some(Importance::new(1.0).expect("valid")),
        );
        let lo = s.score(
            now(),
            now(),
            Role::User,
            Some(Importance::new(0.0).expect("valid")),
        );
        assert!((hi.value() - lo.value() - 0.4).abs() < 1e-12);
        assert!((hi.value() - 0.94).abs() < 1e-12);
    }

    #[test]
    fn recency_follows_exp_decay_with_seven_day_constant() {
        let s = ImportanceScorer::default();
        let fresh = s.score(now(), now(), Role::User, None).value();
        let week = s
            .score(now() - Duration::days(7), now(), Role::User, None)
            .value();
        let expected = 0.4 * (1.0 - (-1.0f64).exp());
        assert!((fresh - week - expected).abs() < 1e-9);
        // A very old message keeps only its role and explicit parts.
        let ancient = s
            .score(now() - Duration::days(3650), now(), Role::User, None)
            .value();
        assert!((ancient - 0.34).abs() < 1e-9);
    }

    #[test]
    fn future_dates_count_as_fresh() {
        let s = ImportanceScorer::default();
        let f = s.score(now() + Duration::days(3), now(), Role::User, None);
        assert_eq!(f, s.score(now(), now(), Role::User, None));
    }

    #[test]
    fn config_validation_rejects_negative_and_zero_days() {
        let c = ImportanceConfig::default();
        let e = c
            .clone()
            .with_weights(0.4, -0.1, 0.4)
            .expect_err("negative");
        assert_eq!(e.field, "role_weight");
        let e = c.clone().with_recency_days(0.0).expect_err("zero");
        assert_eq!(e.field, "recency_days");
        let c = c.with_role_values(1.0, 0.5, 0.0).expect("valid");
        assert_eq!(c.role_values(), (1.0, 0.5, 0.0));
    }
}
