//! The schema's migrations (`migrations/postgres`, embedded at build time) and the functions
//! that apply and revert them: `memory-server migrate`, `MEMORY_AUTO_MIGRATE`, and tests.

use std::time::Duration;

use diesel::RunQueryDsl as _;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::PgStoreError;

/// The migrations in `migrations/postgres`, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// How long connecting for a migration may take before it is [`PgStoreError::Unavailable`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A key for `pg_advisory_lock`, so that two servers starting at once with
/// `MEMORY_AUTO_MIGRATE` apply the migrations one after the other.
const MIGRATION_LOCK_KEY: i64 = 0x6d65_6d6f_7279_4d47; // "memoryMG"

type Wrapper = AsyncConnectionWrapper<AsyncPgConnection>;

/// Applies every pending migration to the database at `url`; returns the versions applied
/// (empty when the schema was up to date). Safe to run concurrently from several processes.
pub async fn run_migrations(url: &str) -> Result<Vec<String>, PgStoreError> {
    with_migration_connection(url, |conn| {
        conn.run_pending_migrations(MIGRATIONS)
            .map(|v| v.iter().map(ToString::to_string).collect())
    })
    .await
}

/// Reverts every applied migration (drops the tables and their data). For tests and tooling.
pub async fn revert_all_migrations(url: &str) -> Result<Vec<String>, PgStoreError> {
    with_migration_connection(url, |conn| {
        conn.revert_all_migrations(MIGRATIONS)
            .map(|v| v.iter().map(ToString::to_string).collect())
    })
    .await
}

/// The versions of the migrations not yet applied to the database at `url`.
pub async fn pending_migrations(url: &str) -> Result<Vec<String>, PgStoreError> {
    with_migration_connection(url, |conn| {
        conn.pending_migrations(MIGRATIONS)
            .map(|v| v.iter().map(|m| m.name().version().to_string()).collect())
    })
    .await
}

type HarnessResult<T> = diesel::migration::Result<T>;

/// Connects (with a timeout), takes the migration lock, and runs `f` on a blocking thread:
/// diesel_migrations is synchronous, and the wrapper blocks on the async connection.
async fn with_migration_connection<T, F>(url: &str, f: F) -> Result<T, PgStoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Wrapper) -> HarnessResult<T> + Send + 'static,
{
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(url))
        .await
        .map_err(|elapsed| {
            PgStoreError::unavailable_from(
                format!("no connection within {CONNECT_TIMEOUT:?} for migrations"),
                elapsed,
            )
        })??;
    tokio::task::spawn_blocking(move || {
        let mut conn = Wrapper::from(conn);
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)?;
        let result = f(&mut conn).map_err(|source| PgStoreError::Migration {
            message: "the migration harness failed".into(),
            source,
        });
        let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn);
        result
    })
    .await
    .map_err(|e| PgStoreError::Migration {
        message: "the migration task failed".into(),
        source: e.into(),
    })?
}
