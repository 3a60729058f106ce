//! The body of every error response.

use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"code": "validation_error", "message": "the request is invalid",
    "details": [{"field": "role", "rule": "must be one of user, assistant, system; got \"robot\""}]})))]
pub struct ErrorBody {
    /// Stable, machine-readable code (see docs/api.md).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// One entry per invalid field; empty for errors that are not about a field.
    #[serde(default)]
    pub details: Vec<FieldErrorBody>,
}

/// One broken rule of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldErrorBody {
    /// The field, as the client names it (a JSON path for nested values: `metadata.tags`).
    pub field: String,
    /// The rule that was broken.
    pub rule: String,
}
