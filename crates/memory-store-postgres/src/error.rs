//! The crate's error type and its mapping onto memory-core's [`RepositoryError`].
//!
//! Every variant that comes from the driver or the pool keeps that error as its `source`, so
//! logs show the whole chain; the messages say what failed, not the driver's text again.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError as ManagerError;
use diesel_async::pooled_connection::deadpool::PoolError;
use memory_core::error::{BoxError, RepositoryError};

/// What the Postgres store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PgStoreError {
    /// The database cannot be reached, a connection could not be made in time, the pool had no
    /// free connection in time, or an operation timed out. Retryable.
    #[error("postgres unavailable: {message}")]
    Unavailable {
        /// What could not be done.
        message: String,
        /// The driver's, the pool's or the timer's error.
        #[source]
        source: Option<BoxError>,
    },
    /// A write conflicts with existing data (a duplicate id).
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicted.
        message: String,
        /// The unique violation the server reported.
        #[source]
        source: DieselError,
    },
    /// An idempotency record of this tenant and key exists already.
    #[error("idempotency key {0:?} is taken")]
    KeyTaken(String),
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
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
        /// The pool builder's error, when it was the one to refuse.
        #[source]
        source: Option<BoxError>,
    },
    /// Applying or reverting migrations failed.
    #[error("migration failed: {message}")]
    Migration {
        /// What failed.
        message: String,
        /// The migration harness's (or the blocking task's) error.
        #[source]
        source: BoxError,
    },
    /// A stored row is not a valid domain value (corrupt data).
    #[error("corrupt row: {message}")]
    Corrupt {
        /// Which row and field.
        message: String,
        /// The domain validation that refused it.
        #[source]
        source: BoxError,
    },
    /// Any other database error.
    #[error("database error")]
    Database(#[source] DieselError),
}

impl PgStoreError {
    /// [`PgStoreError::Unavailable`] caused by `source`.
    pub(crate) fn unavailable_from(
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// [`PgStoreError::Config`] without a source.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
            source: None,
        }
    }

    /// [`PgStoreError::Corrupt`].
    pub(crate) fn corrupt(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Corrupt {
            message: message.into(),
            source: source.into(),
        }
    }

    /// Whether retrying later may succeed (what [`RepositoryError::Unavailable`] means).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

impl From<DieselError> for PgStoreError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                PgStoreError::Conflict {
                    message: info.message().to_owned(),
                    source: e,
                }
            }
            // diesel-async maps every error without an SQLSTATE (I/O errors, a connection the
            // server or the network closed) to UnableToSendCommand.
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => PgStoreError::unavailable_from("the connection to the database failed", e),
            DieselError::BrokenTransactionManager => {
                PgStoreError::unavailable_from("the connection's transaction state is broken", e)
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if is_try_later_message(info.message()) =>
            {
                PgStoreError::unavailable_from("the database refuses work for now", e)
            }
            _ => PgStoreError::Database(e),
        }
    }
}

/// The server's messages for the conditions that mean "try again later" rather than "bug":
/// 57P01 admin_shutdown / 57P02 crash_shutdown ("terminating connection ..."), 57P03
/// cannot_connect_now ("the database system is starting up / shutting down / in recovery
/// mode"), 53300 too_many_connections ("sorry, too many clients already", "remaining
/// connection slots are reserved ..."). Matching text is the only way: diesel-async keeps the
/// SQLSTATE only for the few kinds diesel names and reports every other server error as
/// `Unknown` without its code. Only ever consulted for `Unknown`.
fn is_try_later_message(m: &str) -> bool {
    m.starts_with("terminating connection")
        || m.starts_with("the database system is")
        || m.contains("too many clients")
        || m.contains("remaining connection slots are reserved")
}

impl From<diesel::ConnectionError> for PgStoreError {
    fn from(e: diesel::ConnectionError) -> Self {
        match e {
            diesel::ConnectionError::InvalidConnectionUrl(_)
            | diesel::ConnectionError::InvalidCString(_) => PgStoreError::Config {
                message: "invalid database URL".into(),
                source: Some(e.into()),
            },
            // Refused, reset, authentication or database-does-not-exist at connect time: the
            // database is not usable now (the startup retry loop and /ready treat it so).
            _ => PgStoreError::unavailable_from("cannot connect to the database", e),
        }
    }
}

/// The pool's errors: every one means no connection could be had in time.
pub(crate) fn from_pool(e: PoolError, context: String) -> PgStoreError {
    let message = match &e {
        PoolError::Timeout(kind) => {
            format!("no database connection available ({kind:?} timeout; {context})")
        }
        PoolError::Backend(ManagerError::ConnectionError(_)) => {
            format!("cannot connect ({context})")
        }
        PoolError::Backend(ManagerError::QueryError(_)) => {
            format!("connection check failed ({context})")
        }
        PoolError::Closed => "the pool is closed".to_owned(),
        _ => format!("the pool gave no connection ({context})"),
    };
    PgStoreError::unavailable_from(message, e)
}

impl From<PgStoreError> for RepositoryError {
    fn from(e: PgStoreError) -> Self {
        match e {
            PgStoreError::Unavailable { .. } => RepositoryError::unavailable_from(e.to_string(), e),
            PgStoreError::Conflict { message, .. } => RepositoryError::Conflict(message),
            PgStoreError::KeyTaken(key) => RepositoryError::DuplicateKey(key),
            PgStoreError::DimensionMismatch { configured, stored } => {
                RepositoryError::DimensionMismatch {
                    expected: stored,
                    got: configured,
                }
            }
            other => RepositoryError::internal_from(other.to_string(), other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn unavailable_is_decided_by_kind() {
        for kind in [
            DatabaseErrorKind::ClosedConnection,
            DatabaseErrorKind::UnableToSendCommand,
        ] {
            let e = PgStoreError::from(db_error(kind, "connection closed"));
            assert!(e.is_unavailable(), "{kind:?}: {e:?}");
            assert!(e.source().is_some(), "the driver error is kept");
        }
        assert!(PgStoreError::from(DieselError::BrokenTransactionManager).is_unavailable());
        let e = PgStoreError::from(db_error(
            DatabaseErrorKind::UniqueViolation,
            "duplicate key",
        ));
        assert!(matches!(e, PgStoreError::Conflict { .. }), "{e:?}");
        // A message that looks like an outage under a kind the driver did name is not one.
        let e = PgStoreError::from(db_error(
            DatabaseErrorKind::CheckViolation,
            "terminating connection",
        ));
        assert!(matches!(e, PgStoreError::Database(_)), "{e:?}");
    }

    #[test]
    fn try_later_server_errors_are_recognised_only_for_unknown() {
        for m in [
            "terminating connection due to administrator command",
            "the database system is starting up",
            "the database system is shutting down",
            "sorry, too many clients already",
            "remaining connection slots are reserved for roles with the SUPERUSER attribute",
        ] {
            let e = PgStoreError::from(db_error(DatabaseErrorKind::Unknown, m));
            assert!(e.is_unavailable(), "{m}: {e:?}");
        }
        for m in [
            "relation \"messages\" does not exist",
            "syntax error at or near \"connection\"",
            "connection reset by peer is not a server message",
        ] {
            let e = PgStoreError::from(db_error(DatabaseErrorKind::Unknown, m));
            assert!(matches!(e, PgStoreError::Database(_)), "{m}: {e:?}");
        }
    }

    #[test]
    fn repository_errors_keep_the_chain() {
        let e = RepositoryError::from(PgStoreError::from(db_error(
            DatabaseErrorKind::UnableToSendCommand,
            "broken pipe",
        )));
        assert!(matches!(e, RepositoryError::Unavailable { .. }), "{e:?}");
        let pg = e.source().expect("the store's error");
        assert!(pg.downcast_ref::<PgStoreError>().is_some());
        let driver = pg.source().expect("the driver's error");
        assert!(driver.downcast_ref::<DieselError>().is_some());
        let e = RepositoryError::from(PgStoreError::from(db_error(
            DatabaseErrorKind::Unknown,
            "division by zero",
        )));
        assert!(matches!(e, RepositoryError::Internal { .. }), "{e:?}");
        assert!(e.source().is_some());
    }
}
