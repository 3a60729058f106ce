//! [`ApiError`]: every way a request can fail, and the one JSON shape each is answered with:
//! `{"code": "...", "message": "...", "details": [{"field": "...", "rule": "..."}]}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use memory_core::CoreError;
use memory_core::error::{EmbedderError, FieldError, RepositoryError, ValidationErrors};
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds a client should wait before retrying a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"code": "validation_error", "message": "the request is invalid",
    "details": [{"field": "role", "rule": "must be one of user, assistant, system; got \"robot\""}]}))]
pub struct ErrorBody {
    /// Stable, machine-readable code (see docs/api.md).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// One entry per invalid field; empty for errors that are not about a field.
    pub details: Vec<FieldErrorBody>,
}

/// One broken rule of one field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// The field, as the client names it (a JSON path for nested values: `metadata.tags`).
    pub field: String,
    /// The rule that was broken.
    pub rule: String,
}

impl From<&FieldError> for FieldErrorBody {
    fn from(e: &FieldError) -> Self {
        Self {
            field: e.field.clone(),
            rule: e.rule.clone(),
        }
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
    Overloaded,
    /// The store or the embedder cannot be reached (503 `unavailable`, with Retry-After).
    #[error("a dependency is unavailable; retry later")]
    Unavailable,
    /// Anything else. The cause is logged, never sent (500 `internal`).
    #[error("internal error")]
    Internal(String),
}

/// The crate's result type.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// One field error as a validation error.
    pub fn field(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ApiError::Validation(ValidationErrors(vec![FieldError::new(field, rule)]))
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
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Overloaded => "overloaded",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            ApiError::Overloaded | ApiError::Unavailable => Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        let details = match self {
            ApiError::Validation(v) => v.0.iter().map(FieldErrorBody::from).collect(),
            _ => Vec::new(),
        };
        let message = match self {
            ApiError::Validation(_) => "the request is invalid; see details".to_owned(),
            // Never show internals.
            ApiError::Internal(_) => "internal error".to_owned(),
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
            _ => ApiError::Internal(format!("status {status}")),
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
            ApiError::Conflict => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Overloaded | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Load shedding and outages: logged once, at warn, with their cause where the
            // error was mapped (an overload must not flood the log with errors).
            tracing::debug!(code = self.code(), "request shed");
        } else if status.is_server_error() {
            tracing::error!(code = self.code(), error = ?self, "request failed");
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
            CoreError::Embedder(EmbedderError::Overloaded(why)) => {
                tracing::warn!(%why, "embedder overloaded");
                ApiError::Overloaded
            }
            CoreError::Embedder(EmbedderError::Unavailable(why)) => {
                tracing::warn!(%why, "embedder unavailable");
                ApiError::Unavailable
            }
            CoreError::Embedder(EmbedderError::Failed(why)) => {
                ApiError::Internal(format!("embedder failed: {why}"))
            }
            CoreError::Repository(RepositoryError::Unavailable(why)) => {
                tracing::warn!(%why, "store unavailable");
                ApiError::Unavailable
            }
            CoreError::Repository(RepositoryError::Conflict(why)) => {
                tracing::warn!(%why, "store conflict");
                ApiError::Conflict
            }
            CoreError::Repository(RepositoryError::Internal(why)) => {
                ApiError::Internal(format!("store failed: {why}"))
            }
        }
    }
}
