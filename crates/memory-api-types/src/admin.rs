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
