//! Wire types more than one endpoint uses, and the helpers that read requests leniently.
//!
//! Requests are read leniently (every field optional, values as raw strings where the core
//! validates them) so that one 422 lists every problem at once: missing fields, bad values and
//! unknown fields alike. Unknown fields are rejected (`deny_unknown_fields`): a misspelt
//! `importance` instead of `importance_override` would otherwise be silently ignored.

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use chrono::{DateTime, Utc};
use memory_core::domain::IdempotencyKey;
use memory_core::error::{FieldError, ValidationErrors};
use sha2::Digest as _;

pub use memory_api_types::{EmbeddingStatusDto, ErasureResponse, MessageResponse, RoleDto};

/// Collects "is required" for missing fields, and drops the core's complaints about the
/// empty placeholders passed for them.
pub(crate) struct Required {
    pub(crate) missing: Vec<&'static str>,
}

impl Required {
    pub(crate) fn new() -> Self {
        Self {
            missing: Vec::new(),
        }
    }

    pub(crate) fn take<'a>(&mut self, field: &'static str, v: &'a Option<String>) -> &'a str {
        match v {
            Some(s) => s,
            None => {
                self.missing.push(field);
                ""
            }
        }
    }

    pub(crate) fn merge(
        self,
        extra: Vec<FieldError>,
        core: Option<ValidationErrors>,
    ) -> ValidationErrors {
        let mut out: Vec<FieldError> = self
            .missing
            .iter()
            .map(|f| FieldError::new(*f, "is required"))
            .collect();
        out.extend(extra);
        if let Some(core) = core {
            out.extend(
                core.0
                    .into_iter()
                    .filter(|e| !self.missing.contains(&e.field.as_str())),
            );
        }
        ValidationErrors(out)
    }
}

/// Reads an optional number sent as text, naming the field when it is not one.
pub(crate) fn parse_number<T: std::str::FromStr>(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: &Option<String>,
    what: &str,
) -> Option<T> {
    let s = v.as_deref()?;
    match s.trim().parse::<T>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(field, format!("must be {what}, got {s:?}")));
            None
        }
    }
}

/// The header that makes a write safe to retry.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The request's `Idempotency-Key`, bound to its method, path and body (`digest`, the
/// SHA-256 of the body): the same key with another request is a 409, not a replay.
pub(crate) fn idempotency_key(
    req: &HttpRequest,
    digest: &str,
) -> Result<Option<IdempotencyKey>, crate::error::ApiError> {
    let Some(value) = req.headers().get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        crate::error::ApiError::field("Idempotency-Key", "must be visible ASCII characters")
    })?;
    let fingerprint: String =
        sha2::Sha256::digest(format!("{} {}\n{digest}", req.method(), req.uri().path()).as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    IdempotencyKey::parse(key, fingerprint)
        .map(Some)
        .map_err(|e| crate::error::ApiError::field(e.field, e.rule))
}

/// Reads an optional RFC 3339 instant, naming the field when it is not one.
pub(crate) fn parse_instant(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: &Option<String>,
) -> Option<DateTime<Utc>> {
    let s = v.as_deref()?;
    match DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 date-time, e.g. 2025-11-14T20:30:00Z",
            ));
            None
        }
    }
}

/// The `{message_id}` path parameter of the matched route, as a message id (a 422 naming
/// `message_id` when it is not a UUID).
pub(crate) fn message_id_param(
    req: &HttpRequest,
) -> Result<memory_core::domain::MessageId, crate::error::ApiError> {
    memory_core::domain::MessageId::parse(&crate::extract::path_param(req, "message_id")?)
        .map_err(|e| crate::error::ApiError::field(e.field, e.rule))
}
