//! Health, retention runs and erasures.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything works.
    Ok,
    /// The database is down (answered with 503).
    Degraded,
}

/// The database's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DatabaseStatus {
    /// Answered in time.
    Ok,
    /// Failed or did not answer in time.
    Down,
}

/// `GET /v1/admin/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    /// `ok`, or `degraded` (with 503) when the database is down.
    pub status: HealthStatus,
    /// `ok` or `down`.
    pub database: DatabaseStatus,
    /// When the check ran.
    pub timestamp: DateTime<Utc>,
    /// How long the database check took, in milliseconds.
    pub latency_ms: f64,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// The deployment environment.
    pub environment: String,
    /// The server's version.
    pub version: String,
}

/// A retention action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RetentionActionDto {
    /// Archive messages older than the policy's age or below its importance threshold.
    Archive,
    /// Delete archived messages past the policy's deletion delay.
    Delete,
}

/// What a retention run did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionRunResponse {
    /// Messages archived.
    pub archived: u64,
    /// Archived messages deleted.
    pub deleted: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

/// What an erasure deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErasureResponse {
    /// The tenant.
    pub tenant_id: String,
    /// The conversation, when one conversation was erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Messages deleted (archived copies go with them); 0 when there was nothing left.
    pub deleted: u64,
}

/// A tenant's retention policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionPolicyDto {
    /// Messages older than this many days are archived.
    pub max_age_days: u32,
    /// Messages with an importance strictly below this are archived.
    pub importance_threshold: f64,
    /// Archived messages are deleted this many days after they were archived.
    pub delete_after_days: u32,
}

/// What the next archive step would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchivePreview {
    /// Live messages it would archive (exact).
    pub count: u64,
    /// The age rule: messages created before this instant.
    pub created_before: DateTime<Utc>,
    /// The importance rule: messages with an importance strictly below this.
    pub importance_below: f64,
    /// Some of them, oldest first (see docs/api.md).
    pub sample: Vec<crate::MessageResponse>,
}

/// What the next delete step would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletePreview {
    /// Archived messages it would delete (exact).
    pub count: u64,
    /// Messages archived before this instant.
    pub archived_before: DateTime<Utc>,
}

/// `GET /v1/admin/retention/preview`: the policy in force and what a run now would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionPreviewResponse {
    /// The tenant.
    pub tenant_id: String,
    /// When the rules were evaluated.
    pub now: DateTime<Utc>,
    /// The tenant's own policy, or the server's default.
    pub policy: RetentionPolicyDto,
    /// The archive step.
    pub archive: ArchivePreview,
    /// The delete step.
    pub delete: DeletePreview,
}
