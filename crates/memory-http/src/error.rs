//! [`ApiError`]: every way a request can fail, and the one JSON shape each is answered with:
//! `{"code": "...", "message": "...", "details": [{"field": "...", "rule": "..."}]}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use memory_core::CoreError;
use memory_core::error::{BoxError, EmbedderError, FieldError, RepositoryError, ValidationErrors};

/// Seconds a client should wait before retrying a 503 that gives no estimate of its own (an
/// outage, or too many requests in flight).
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

pub use memory_api_types::{ErrorBody, FieldErrorBody};

fn field_error_body(e: &FieldError) -> FieldErrorBody {
    FieldErrorBody {
        field: e.field.clone(),
        rule: e.rule.clone(),
    }
}

/// Everything the API answers with an error. Each variant has a status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Fields broke validation rules (422 `validation_error`).
    #[error("the request is invalid: {0}")]
    Validation(ValidationErrors),
    /// The body is not well-formed JSON (400 `invalid_json`).
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is not `application/json` (415 `unsupported_media_type`).
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit (413 `payload_too_large`).
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read (400 `bad_request`).
    #[error("the request could not be read: {0}")]
    BadRequest(String),
    /// No such resource, or not visible to this key (404 `not_found`).
    #[error("{0} not found")]
    NotFound(String),
    /// The route exists but not for this method (405 `method_not_allowed`).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Missing or wrong `x-api-key` (401 `unauthorized`).
    #[error("a valid x-api-key header is required")]
    Unauthorized,
    /// The key may not act on this tenant (403 `forbidden`).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A write conflicts with existing data (409 `conflict`).
    #[error("conflict")]
    Conflict,
    /// An `Idempotency-Key` was used before with another request (409
    /// `idempotency_key_reused`).
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// Too many requests from this client or key (429 `rate_limited`).
    #[error("rate limit exceeded; retry in {retry_after_seconds} s")]
    RateLimited {
        /// When the next request will be admitted.
        retry_after_seconds: u64,
    },
    /// The request took longer than the configured timeout (504 `timeout`).
    #[error("the request took longer than {seconds} s")]
    Timeout {
        /// The configured timeout.
        seconds: f64,
    },
    /// The embedder is saturated, or too many requests are in flight (503 `overloaded`, with
    /// Retry-After).
    #[error("the service is overloaded; retry later")]
    Overloaded {
        /// When to retry: the embedder's estimate of its backlog, or
        /// [`UNAVAILABLE_RETRY_AFTER_SECONDS`].
        retry_after_seconds: u64,
    },
    /// The store or the embedder cannot be reached (503 `unavailable`, with Retry-After).
    #[error("a dependency is unavailable; retry later")]
    Unavailable,
    /// The store behind this server lacks what the request needs, e.g. erasure (501
    /// `not_supported`): a deployment's choice, not a failure, so retrying will not help.
    #[error("not supported by this server's store: {0}")]
    NotSupported(&'static str),
    /// Anything else. The cause is logged with its source chain, never sent (500 `internal`).
    #[error("internal error: {message}")]
    Internal {
        /// What failed, in words (logged).
        message: String,
        /// The error behind it (logged with its own sources).
        #[source]
        source: Option<BoxError>,
    },
}

/// An error and its sources, `: `-separated: what the log says about a 5xx, so a driver's
/// error behind a port error is not lost.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// A duration as whole seconds for Retry-After: rounded up, at least 1 (0 would invite an
/// immediate retry).
fn retry_after_seconds(d: std::time::Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The crate's result type.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// One field error as a validation error.
    pub fn field(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ApiError::Validation(ValidationErrors(vec![FieldError::new(field, rule)]))
    }

    /// [`ApiError::Internal`] without a source.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::Internal {
            message: message.into(),
            source: None,
        }
    }

    /// [`ApiError::Internal`] caused by `source`.
    pub fn internal_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        ApiError::Internal {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_error",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Conflict => "conflict",
            ApiError::IdempotencyKeyReused(_) => "idempotency_key_reused",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Unavailable => "unavailable",
            ApiError::NotSupported(_) => "not_supported",
            ApiError::Internal { .. } => "internal",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            ApiError::Overloaded {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            ApiError::Unavailable => Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        let details = match self {
            ApiError::Validation(v) => v.0.iter().map(field_error_body).collect(),
            _ => Vec::new(),
        };
        let message = match self {
            ApiError::Validation(_) => "the request is invalid; see details".to_owned(),
            // Never show internals.
            ApiError::Internal { .. } => "internal error".to_owned(),
            other => other.to_string(),
        };
        ErrorBody {
            code: self.code().to_owned(),
            message,
            details,
        }
    }

    /// The generic error for a status produced outside this crate (actix's own 404, 405, ...).
    pub fn for_status(status: StatusCode) -> ApiError {
        match status.as_u16() {
            404 => ApiError::NotFound("route".into()),
            405 => ApiError::MethodNotAllowed,
            413 => ApiError::PayloadTooLarge {
                limit: crate::extract::BODY_LIMIT_BYTES,
            },
            415 => ApiError::UnsupportedMediaType,
            401 => ApiError::Unauthorized,
            403 => ApiError::Forbidden("not allowed".into()),
            408 | 504 => ApiError::Timeout { seconds: 0.0 },
            429 => ApiError::RateLimited {
                retry_after_seconds: 1,
            },
            503 => ApiError::Unavailable,
            s if (400..500).contains(&s) => ApiError::BadRequest(
                status
                    .canonical_reason()
                    .unwrap_or("bad request")
                    .to_lowercase(),
            ),
            501 => ApiError::NotSupported("this request"),
            _ => ApiError::internal(format!("status {status}")),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidJson(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict | ApiError::IdempotencyKeyReused(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Overloaded { .. } | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotSupported(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Load shedding and outages: logged once, at warn, with their cause where the
            // error was mapped (an overload must not flood the log with errors).
            tracing::debug!(code = self.code(), "request shed");
        } else if status == StatusCode::NOT_IMPLEMENTED {
            // The deployment's store lacks a capability: worth a warning, not an alert.
            tracing::warn!(code = self.code(), error = %self, "request not supported");
        } else if status.is_server_error() {
            tracing::error!(code = self.code(), error = %ErrorChain(self), "request failed");
        } else {
            tracing::debug!(code = self.code(), error = %self, "request rejected");
        }
        let mut res = HttpResponse::build(status);
        if let Some(secs) = self.retry_after() {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        res.json(self.body())
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Validation(e)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(v) => ApiError::Validation(v),
            CoreError::NotFound(what) => ApiError::NotFound(what),
            CoreError::Forbidden(why) => ApiError::Forbidden(why),
            CoreError::Unsupported(what) => ApiError::NotSupported(what),
            CoreError::IdempotencyConflict(why) => ApiError::IdempotencyKeyReused(why),
            CoreError::Conflict(why) => {
                tracing::info!(%why, "update conflict");
                ApiError::Conflict
            }
            e @ CoreError::DimensionMismatch { .. } => {
                ApiError::internal_from("the embedder does not fit the store", e)
            }
            CoreError::Embedder(e) => e.into(),
            CoreError::Repository(e) => e.into(),
        }
    }
}

impl From<EmbedderError> for ApiError {
    fn from(e: EmbedderError) -> Self {
        match e {
            EmbedderError::Overloaded {
                ref message,
                retry_after,
            } => {
                tracing::warn!(%message, ?retry_after, "embedder overloaded");
                ApiError::Overloaded {
                    retry_after_seconds: retry_after_seconds(retry_after),
                }
            }
            e @ EmbedderError::Unavailable { .. } => {
                tracing::warn!(error = %ErrorChain(&e), "embedder unavailable");
                ApiError::Unavailable
            }
            e @ EmbedderError::Failed { .. } => ApiError::internal_from("embedder failed", e),
        }
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        match e {
            e @ RepositoryError::Unavailable { .. } => {
                tracing::warn!(error = %ErrorChain(&e), "store unavailable");
                ApiError::Unavailable
            }
            RepositoryError::Conflict(why) | RepositoryError::DuplicateKey(why) => {
                tracing::warn!(%why, "store conflict");
                ApiError::Conflict
            }
            // A dimension mismatch here is a wiring bug the service should have caught.
            e @ (RepositoryError::DimensionMismatch { .. } | RepositoryError::Internal { .. }) => {
                ApiError::internal_from("store failed", e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_at_least_one() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn core_errors_map_to_statuses_and_codes() {
        let cases: Vec<(CoreError, u16, &str)> = vec![
            (CoreError::Unsupported("erasure"), 501, "not_supported"),
            (
                CoreError::DimensionMismatch {
                    store: 3,
                    embedder: 4,
                },
                500,
                "internal",
            ),
            (
                RepositoryError::DimensionMismatch {
                    expected: 3,
                    got: 4,
                }
                .into(),
                500,
                "internal",
            ),
            (
                EmbedderError::overloaded("busy", Duration::from_millis(1500)).into(),
                503,
                "overloaded",
            ),
            (
                RepositoryError::unavailable("down").into(),
                503,
                "unavailable",
            ),
        ];
        for (core, status, code) in cases {
            let e = ApiError::from(core);
            assert_eq!(e.status_code().as_u16(), status, "{e}");
            assert_eq!(e.code(), code, "{e}");
        }
        let e = ApiError::from(CoreError::from(EmbedderError::overloaded(
            "busy",
            Duration::from_millis(1500),
        )));
        assert_eq!(e.retry_after(), Some(2));
    }

    #[test]
    fn internal_errors_keep_their_source_chain_for_the_log_only() {
        let driver = std::io::Error::other("connection reset by peer");
        let e = ApiError::from(CoreError::from(RepositoryError::internal_from(
            "reading a message",
            driver,
        )));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "internal error: store failed: store failure: reading a message: \
             connection reset by peer"
        );
        assert_eq!(e.body().message, "internal error");
    }
}
