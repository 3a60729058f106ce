//! The core's errors: one enum for the service ([`CoreError`]), plus the error types each
//! port returns. Adapters map their own failures into the port errors; the HTTP layer maps
//! [`CoreError`] to status codes.

use std::fmt;

/// One broken validation rule, naming the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field as the client names it (`tenant_id`, `content`, `top_k`, ...).
    pub field: String,
    /// The rule that was broken, in words ("must be 1-64 characters, got 0").
    pub rule: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

impl std::error::Error for FieldError {}

/// Every validation error of one request, so a client can fix them all at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `result`, if any, and passes its value on.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Adds one error.
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, otherwise the errors as a [`CoreError::Validation`].
    pub fn into_result(self) -> Result<(), CoreError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Validation(self))
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

impl From<ValidationErrors> for CoreError {
    fn from(e: ValidationErrors) -> Self {
        CoreError::Validation(e)
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}

/// What a [`crate::ports::MessageRepository`] (or policy store) may fail with.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The store cannot be reached or has no free connection in time: retryable (HTTP 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A write conflicts with existing data (e.g. a duplicate id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else: a bug or corrupt data (HTTP 500, details logged, not shown).
    #[error("store failure: {0}")]
    Internal(String),
}

/// What an [`crate::ports::Embedder`] may fail with.
#[derive(Debug, thiserror::Error)]
pub enum EmbedderError {
    /// The embedder's queue is full: retry later (HTTP 503 with Retry-After).
    #[error("embedder overloaded: {0}")]
    Overloaded(String),
    /// The embedder is shut down or its worker died.
    #[error("embedder unavailable: {0}")]
    Unavailable(String),
    /// The model failed on this input.
    #[error("embedding failed: {0}")]
    Failed(String),
}

/// The service's error: what [`crate::MemoryService`] returns to inbound adapters.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input broke one or more rules; nothing was done.
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(String),
    /// The caller may not act on this tenant.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The embedder failed.
    #[error(transparent)]
    Embedder(#[from] EmbedderError),
    /// The store failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl From<FieldError> for CoreError {
    fn from(e: FieldError) -> Self {
        CoreError::Validation(e.into())
    }
}

/// The core's result type.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
