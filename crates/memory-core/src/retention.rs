//! Retention rules: which messages to archive, which archived copies to delete.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::domain::{Importance, Message, TenantId};
use crate::error::{FieldError, ValidationErrors};

/// A tenant's retention policy. Defaults: archive after 30 days or below importance 0.35;
/// delete archived messages 90 days after they were archived. Built by
/// [`RetentionPolicy::new`], so always valid.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPolicy {
    max_age_days: u32,
    importance_threshold: Importance,
    delete_after_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            max_age_days: 30,
            importance_threshold: Importance::saturating(0.35),
            delete_after_days: 90,
        }
    }
}

impl RetentionPolicy {
    /// Longest accepted period, in days (100 years).
    pub const MAX_DAYS: u32 = 36_500;

    /// A validated policy.
    pub fn new(
        max_age_days: u32,
        importance_threshold: f64,
        delete_after_days: u32,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        for (field, v) in [
            ("max_age_days", max_age_days),
            ("delete_after_days", delete_after_days),
        ] {
            if !(1..=Self::MAX_DAYS).contains(&v) {
                errors.push(FieldError::new(
                    field,
                    format!("must be between 1 and {}, got {v}", Self::MAX_DAYS),
                ));
            }
        }
        let threshold = errors.check(Importance::parse_field(
            "importance_threshold",
            importance_threshold,
        ));
        match threshold {
            Some(importance_threshold) if errors.is_empty() => Ok(Self {
                max_age_days,
                importance_threshold,
                delete_after_days,
            }),
            _ => Err(errors),
        }
    }

    /// Archive messages older than this many days (1-36500; default 30).
    pub fn max_age_days(&self) -> u32 {
        self.max_age_days
    }

    /// Archive messages whose importance is below this (default 0.35).
    pub fn importance_threshold(&self) -> Importance {
        self.importance_threshold
    }

    /// Delete archived messages this many days after archiving (1-36500; default 90).
    pub fn delete_after_days(&self) -> u32 {
        self.delete_after_days
    }

    /// The archive rule in force at `now`.
    pub fn archive_rule(&self, now: DateTime<Utc>) -> ArchiveRule {
        ArchiveRule {
            created_before: now - Duration::days(i64::from(self.max_age_days)),
            importance_below: self.importance_threshold,
        }
    }

    /// Archived copies archived before this instant are deleted.
    pub fn purge_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::days(i64::from(self.delete_after_days))
    }
}

/// Archive a non-archived message of the tenant when it was created before `created_before`
/// OR its importance is below `importance_below`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveRule {
    /// Age cut-off.
    pub created_before: DateTime<Utc>,
    /// Importance cut-off (strictly below).
    pub importance_below: Importance,
}

impl ArchiveRule {
    /// The rule, as repositories must implement it in their query language.
    pub fn matches(&self, message: &Message) -> bool {
        !message.archived
            && (message.created_at < self.created_before
                || message.importance_score.value() < self.importance_below.value())
    }
}

/// What a retention run may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RetentionAction {
    /// Copy matching messages to the archive and mark them archived.
    Archive,
    /// Delete archived messages older than the policy allows.
    Delete,
}

impl RetentionAction {
    /// Parses `archive` or `delete`.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        match value {
            "archive" => Ok(Self::Archive),
            "delete" => Ok(Self::Delete),
            other => Err(FieldError::new(
                "actions",
                format!("each action must be archive or delete; got {other:?}"),
            )),
        }
    }
}

/// A validated retention request: a tenant and at least one action.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionRequest {
    tenant_id: TenantId,
    actions: BTreeSet<RetentionAction>,
    dry_run: bool,
}

impl RetentionRequest {
    /// Both actions (archive, then delete) for `tenant_id`: what the scheduler runs.
    pub fn full(tenant_id: TenantId, dry_run: bool) -> Self {
        Self {
            tenant_id,
            actions: [RetentionAction::Archive, RetentionAction::Delete].into(),
            dry_run,
        }
    }

    /// The tenant to apply the policy to.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// What to do; never empty.
    pub fn actions(&self) -> &BTreeSet<RetentionAction> {
        &self.actions
    }

    /// Count only; change nothing.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Validates raw fields, collecting every error.
    pub fn parse(
        tenant_id: &str,
        actions: &[String],
        dry_run: bool,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let tenant = errors.check(TenantId::parse(tenant_id));
        let mut set = BTreeSet::new();
        for a in actions {
            if let Some(a) = errors.check(RetentionAction::parse(a)) {
                set.insert(a);
            }
        }
        if actions.is_empty() {
            errors.push(FieldError::new(
                "actions",
                "must name at least one of archive, delete",
            ));
        }
        match tenant {
            Some(tenant_id) if errors.is_empty() => Ok(Self {
                tenant_id,
                actions: set,
                dry_run,
            }),
            _ => Err(errors),
        }
    }
}

/// What a retention run did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Messages archived.
    pub archived: u64,
    /// Archived messages deleted.
    pub deleted: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Fixture, t0};

    #[test]
    fn archive_rule_is_age_or_importance() {
        let rule = RetentionPolicy::default().archive_rule(t0());
        let m = |days: i64, imp: f64| {
            Fixture::new("t", "c", 2)
                .created(t0() - Duration::days(days))
                .importance(imp)
                .build()
        };
        assert!(rule.matches(&m(31, 0.9)), "older than 30 days");
        assert!(rule.matches(&m(1, 0.34)), "below 0.35");
        assert!(!rule.matches(&m(29, 0.35)), "young and important enough");
        assert!(
            !rule.matches(&m(30, 0.5)),
            "exactly 30 days is not older than 30 days"
        );
        let mut archived = m(100, 0.0);
        archived.archived = true;
        assert!(!rule.matches(&archived), "already archived");
    }

    #[test]
    fn policy_validation() {
        assert!(RetentionPolicy::new(30, 0.35, 90).is_ok());
        let e = RetentionPolicy::new(0, 1.5, 40_000).expect_err("invalid");
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["max_age_days", "delete_after_days", "importance_threshold"]
        );
        let p = RetentionPolicy::default();
        assert_eq!(p.purge_cutoff(t0()), t0() - Duration::days(90));
    }

    #[test]
    fn retention_request_parsing() {
        let r = RetentionRequest::parse(
            "acme",
            &["delete".into(), "archive".into(), "archive".into()],
            false,
        )
        .expect("valid");
        assert_eq!(
            r.actions().iter().copied().collect::<Vec<_>>(),
            [RetentionAction::Archive, RetentionAction::Delete]
        );
        let e = RetentionRequest::parse("", &[], false).expect_err("invalid");
        assert_eq!(e.0.len(), 2);
        assert!(RetentionRequest::parse("a", &["shred".into()], false).is_err());
    }
}
