//! The core's errors: one enum for the service ([`CoreError`]), plus the error types the
//! ports return. Adapters map their own failures into the port errors; the HTTP layer maps
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

/// Any error, boxed: the source of a port error, kept so logs show the whole chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a store port ([`crate::ports::MessageStore`], [`crate::ports::VectorSearch`], ...)
/// may fail with. Adapters keep their own error as the `source`.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The store cannot be reached or has no free connection in time: retryable (HTTP 503).
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What could not be done, in words.
        message: String,
        /// The adapter's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A write conflicts with existing data (e.g. a duplicate id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An idempotency record for this tenant and key exists already (a concurrent request
    /// with the same key won the race): read it and replay it.
    #[error("idempotency key {0:?} is taken")]
    DuplicateKey(String),
    /// An embedding of another dimension than the store holds: a wiring bug (the service
    /// checks the embedder against the store when it is built).
    #[error("embedding has {got} dimensions, the store holds {expected}")]
    DimensionMismatch {
        /// The store's dimension.
        expected: usize,
        /// The embedding's.
        got: usize,
    },
    /// Anything else: a bug or corrupt data (HTTP 500, details logged, not shown).
    #[error("store failure: {message}")]
    Internal {
        /// What failed, in words.
        message: String,
        /// The adapter's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl RepositoryError {
    /// [`RepositoryError::Unavailable`] without a source.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// [`RepositoryError::Unavailable`] caused by `source`.
    pub fn unavailable_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// [`RepositoryError::Internal`] without a source.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
            source: None,
        }
    }

    /// [`RepositoryError::Internal`] caused by `source`.
    pub fn internal_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// What an [`crate::ports::Embedder`] may fail with.
#[derive(Debug, thiserror::Error)]
pub enum EmbedderError {
    /// The embedder cannot take this work now: retry after `retry_after` (HTTP 503 with that
    /// Retry-After).
    #[error("embedder overloaded: {message}")]
    Overloaded {
        /// Why, in words.
        message: String,
        /// When trying again is likely to succeed (the embedder's estimate of its backlog).
        retry_after: std::time::Duration,
    },
    /// The embedder is shut down, its worker died, or it gave no answer in time.
    #[error("embedder unavailable: {message}")]
    Unavailable {
        /// Why, in words.
        message: String,
        /// The adapter's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The model failed on this input.
    #[error("embedding failed: {message}")]
    Failed {
        /// Why, in words.
        message: String,
        /// The adapter's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl EmbedderError {
    /// [`EmbedderError::Overloaded`].
    pub fn overloaded(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self::Overloaded {
            message: message.into(),
            retry_after,
        }
    }

    /// [`EmbedderError::Unavailable`] without a source.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// [`EmbedderError::Unavailable`] caused by `source`.
    pub fn unavailable_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// [`EmbedderError::Failed`] without a source.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            source: None,
        }
    }

    /// [`EmbedderError::Failed`] caused by `source`.
    pub fn failed_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Failed {
            message: message.into(),
            source: Some(source.into()),
        }
    }
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
    /// An `Idempotency-Key` was used before with a different request (HTTP 409).
    #[error("idempotency key reused: {0}")]
    IdempotencyConflict(String),
    /// The message changed while this update was computed, again and again (HTTP 409):
    /// retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store behind the service lacks the capability this use case needs (e.g. a store
    /// without [`crate::ports::Erasure`] cannot erase).
    #[error("not supported by this store: {0}")]
    Unsupported(&'static str),
    /// The embedder's vectors do not fit the store: the model changed, or the wiring is wrong.
    #[error(
        "the embedder produces {embedder} dimensions but the store holds {store}: configure the \
         model the data was written with, or re-embed into a new store"
    )]
    DimensionMismatch {
        /// The store's dimension.
        store: usize,
        /// The embedder's.
        embedder: usize,
    },
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
