//! The crate's error type and its mapping onto memory-core's [`RepositoryError`].

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use memory_core::error::RepositoryError;

/// What the Postgres store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PgStoreError {
    /// The database cannot be reached, a connection could not be made in time, the pool had no
    /// free connection in time, or an operation timed out. Retryable.
    #[error("postgres unavailable: {0}")]
    Unavailable(String),
    /// A write conflicts with existing data (a duplicate id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The schema is missing or not the one this build expects (run the migrations).
    #[error("schema: {0}")]
    Schema(String),
    /// The configured embedding dimension differs from the database column's: the model
    /// changed. Nothing is written; re-embed into a new schema or fix the configuration.
    #[error(
        "embedding dimension mismatch: the store is configured for {configured} dimensions but \
         messages.embedding is vector({stored}); the embedding model changed? Re-embed the \
         history (new column or database) or configure the model the data was written with"
    )]
    DimensionMismatch {
        /// The dimension the store was configured with (the embedder's).
        configured: usize,
        /// The dimension of the `messages.embedding` column.
        stored: usize,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Applying or reverting migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored row is not a valid domain value (corrupt data).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl From<DieselError> for PgStoreError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                PgStoreError::Conflict(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::BrokenTransactionManager => PgStoreError::Unavailable(e.to_string()),
            DieselError::DatabaseError(_, info) if is_unavailable_message(info.message()) => {
                PgStoreError::Unavailable(e.to_string())
            }
            _ => PgStoreError::Database(e.to_string()),
        }
    }
}

/// Server-side conditions that mean "try again later" rather than "bug".
fn is_unavailable_message(m: &str) -> bool {
    // diesel does not expose the SQLSTATE; match on the server's and the driver's messages for
    // the classes 08 (connection exception), 53 (insufficient resources), 57P (operator
    // intervention).
    m.contains("communicating with the server")
        || m.contains("terminating connection")
        || m.contains("the database system is")
        || m.contains("too many clients")
        || m.contains("remaining connection slots")
        || m.contains("connection")
            && (m.contains("closed") || m.contains("reset") || m.contains("refused"))
}

impl From<diesel::ConnectionError> for PgStoreError {
    fn from(e: diesel::ConnectionError) -> Self {
        PgStoreError::Unavailable(e.to_string())
    }
}

impl From<PgStoreError> for RepositoryError {
    fn from(e: PgStoreError) -> Self {
        match e {
            PgStoreError::Unavailable(m) => RepositoryError::Unavailable(m),
            PgStoreError::Conflict(m) => RepositoryError::Conflict(m),
            other => RepositoryError::Internal(other.to_string()),
        }
    }
}
