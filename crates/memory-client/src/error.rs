//! [`Error`]: everything a call can fail with, the server's answers typed.

use std::time::Duration;

use memory_api_types::{ErrorBody, FieldErrorBody};

/// What a call returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status (after any retries).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer: the connection failed or the client-side timeout passed (after any
    /// retries). Every request this client sends is safe to send again.
    #[error("no answer from the server: {0}")]
    Transport(#[source] reqwest::Error),
    /// The server answered with a success the client cannot read (a version mismatch).
    #[error("unexpected answer body (status {status}): {source}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The client was built or called with something unusable (a bad base URL, say).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's stable error code (`validation_error`, `rate_limited`, ...), when it
    /// answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api(e) => Some(&e.code),
            _ => None,
        }
    }

    /// The server's error, when it answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// An error the server answered with: its status, the stable `code`, the human `message`
/// and, for a 422, one detail per invalid field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {code}: {message}{}", details_suffix(.details))]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// Stable, machine-readable (docs/api.md lists them); `http_<status>` when the body was
    /// not the server's error JSON (a proxy's page, say).
    pub code: String,
    /// Human-readable.
    pub message: String,
    /// For `validation_error`: every invalid field and the rule it broke.
    pub details: Vec<FieldErrorBody>,
    /// The server's `Retry-After`, for 429 and 503.
    pub retry_after: Option<Duration>,
    /// The `x-request-id` to find the request in the server's logs.
    pub request_id: Option<String>,
}

fn details_suffix(details: &[FieldErrorBody]) -> String {
    if details.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = details
        .iter()
        .map(|d| format!("{}: {}", d.field, d.rule))
        .collect();
    format!(" ({})", parts.join("; "))
}

impl ApiError {
    /// Reads an error answer: the server's JSON when it is that, else a generic error
    /// naming the status.
    pub(crate) fn from_answer(
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        request_id: Option<String>,
    ) -> Self {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => Self {
                status,
                code: b.code,
                message: b.message,
                details: b.details,
                retry_after,
                request_id,
            },
            Err(_) => Self {
                status,
                code: format!("http_{status}"),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                details: Vec::new(),
                retry_after,
                request_id,
            },
        }
    }

    /// The rule a field broke, for a 422 naming it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|d| d.field == name)
            .map(|d| d.rule.as_str())
    }

    /// 404 `not_found`.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// 422 `validation_error`.
    pub fn is_validation(&self) -> bool {
        self.status == 422
    }

    /// 429 `rate_limited`.
    pub fn is_rate_limited(&self) -> bool {
        self.status == 429
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_servers_error_body() {
        let body = br#"{"code":"validation_error","message":"the request is invalid",
            "details":[{"field":"role","rule":"must be one of user, assistant, system"}]}"#;
        let e = ApiError::from_answer(422, body, None, Some("r1".into()));
        assert_eq!(e.code, "validation_error");
        assert_eq!(
            e.field("role"),
            Some("must be one of user, assistant, system")
        );
        assert_eq!(e.field("content"), None);
        assert!(e.to_string().contains("role: must be one of"), "{e}");
    }

    #[test]
    fn a_foreign_body_still_names_the_status() {
        let e = ApiError::from_answer(502, b"<html>bad gateway</html>", None, None);
        assert_eq!(e.code, "http_502");
        assert!(e.message.contains("bad gateway"));
        assert!(e.details.is_empty());
    }
}
