//! The crate's error type and its mapping onto the port's [`RepositoryError`].

use std::path::PathBuf;
use std::time::Duration;

use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};
use memory_core::error::RepositoryError;

/// What opening or using a [`crate::SqliteStore`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    /// The database URL is not one this store accepts.
    #[error("invalid SQLite database URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The database file's directory could not be created.
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A connection could not be opened.
    #[error("cannot open SQLite database: {0}")]
    Connection(#[from] ConnectionError),
    /// No reader connection became free in time (or one could not be opened).
    #[error("SQLite connection pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// The writer connection stayed busy for longer than the acquire timeout.
    #[error("SQLite writer busy for more than {0:?}")]
    WriterTimeout(Duration),
    /// The embedded migrations failed.
    #[error("SQLite migrations failed: {0}")]
    Migration(String),
    /// The database holds embeddings of another dimension than the one configured: the
    /// embedding model changed. Nothing was changed; see `docs/storage-sqlite.md`.
    #[error(
        "the database at {} holds {stored}-dimensional embeddings but the store is configured \
         for {configured}: the embedding model changed. Use a new database file (or re-embed) \
         instead of mixing vectors of two models"
    , path.display())]
    DimensionMismatch {
        /// The database file.
        path: PathBuf,
        /// The dimension recorded in the database.
        stored: usize,
        /// The dimension configured now.
        configured: usize,
    },
    /// The database holds embeddings of another model than the one configured.
    #[error(
        "the database at {} holds embeddings of model {stored:?} but the store is configured \
         for {configured:?}: vectors of two models are not comparable. Use a new database file \
         (or re-embed)"
    , path.display())]
    ModelMismatch {
        /// The database file.
        path: PathBuf,
        /// The model recorded in the database.
        stored: String,
        /// The model configured now.
        configured: String,
    },
    /// A query failed.
    #[error("SQLite query failed: {0}")]
    Query(#[from] DieselError),
    /// A stored row could not be turned back into a domain value.
    #[error("corrupt row in the SQLite store: {0}")]
    Corrupt(String),
    /// An idempotency record of this tenant and key exists already.
    #[error("idempotency key {0:?} is taken")]
    KeyTaken(String),
    /// The blocking task running the query panicked or was cancelled.
    #[error("SQLite task failed: {0}")]
    Task(String),
}

impl SqliteStoreError {
    /// Whether the error means "the store cannot be reached right now" (busy, locked, I/O).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connection(_)
            | Self::Pool(_)
            | Self::WriterTimeout(_)
            | Self::CreateDir { .. } => true,
            Self::Query(DieselError::DatabaseError(kind, info)) => {
                matches!(kind, DatabaseErrorKind::UnableToSendCommand)
                    || is_unavailable_message(info.message())
            }
            Self::Query(DieselError::BrokenTransactionManager) => true,
            _ => false,
        }
    }

    /// Whether the error is a unique (or primary key) violation.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// SQLite's messages for SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN,
/// SQLITE_FULL and SQLITE_READONLY. diesel reports these as `DatabaseErrorKind::Unknown` and
/// drops SQLite's result code, so the message (fixed text from `sqlite3_errstr`) is the only
/// signal left; every condition diesel does give a kind for is decided by the kind.
fn is_unavailable_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "database is locked",
        "database table is locked",
        "database schema is locked",
        "busy",
        "disk i/o error",
        "unable to open database",
        "database or disk is full",
        "readonly database",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

impl From<SqliteStoreError> for RepositoryError {
    fn from(e: SqliteStoreError) -> Self {
        if let SqliteStoreError::KeyTaken(key) = e {
            RepositoryError::DuplicateKey(key)
        } else if e.is_conflict() {
            RepositoryError::Conflict(e.to_string())
        } else if e.is_unavailable() {
            RepositoryError::unavailable_from("SQLite", e)
        } else {
            RepositoryError::internal_from("SQLite", e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> SqliteStoreError {
        SqliteStoreError::Query(DieselError::DatabaseError(
            kind,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn maps_onto_repository_errors() {
        let busy = db_error(DatabaseErrorKind::Unknown, "database is locked");
        assert!(matches!(
            RepositoryError::from(busy),
            RepositoryError::Unavailable { .. }
        ));
        let io = db_error(DatabaseErrorKind::Unknown, "disk I/O error");
        assert!(matches!(
            RepositoryError::from(io),
            RepositoryError::Unavailable { .. }
        ));
        let dup = db_error(
            DatabaseErrorKind::UniqueViolation,
            "UNIQUE constraint failed: messages.id",
        );
        assert!(matches!(
            RepositoryError::from(dup),
            RepositoryError::Conflict(_)
        ));
        let check = db_error(DatabaseErrorKind::CheckViolation, "CHECK constraint failed");
        assert!(matches!(
            RepositoryError::from(check),
            RepositoryError::Internal { .. }
        ));
        let timeout = SqliteStoreError::WriterTimeout(Duration::from_secs(1));
        assert!(matches!(
            RepositoryError::from(timeout),
            RepositoryError::Unavailable { .. }
        ));
        let corrupt = SqliteStoreError::Corrupt("bad blob".into());
        assert!(matches!(
            RepositoryError::from(corrupt),
            RepositoryError::Internal { .. }
        ));
    }
}
