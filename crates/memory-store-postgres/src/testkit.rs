//! Test support (feature `testkit`): a real Postgres and a fresh database per test.
//!
//! The server is `MEMORY_TEST_DATABASE_URL` when set (any Postgres with pgvector, reached as a
//! role that may create databases), else the project's own, started once per test binary
//! with `scripts/pg.sh up`. Every [`TestDatabase`] is a new database `test_<uuid>`, so tests
//! run in parallel; it is dropped (`WITH (FORCE)`) when the guard goes out of scope.

use std::process::Command;
use std::sync::OnceLock;

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};

use crate::{PgStoreError, PostgresConfig, PostgresStore, run_migrations};

/// The environment variable naming the test server.
pub const TEST_DATABASE_URL_ENV: &str = "MEMORY_TEST_DATABASE_URL";

/// The test server's URL (its maintenance database): `MEMORY_TEST_DATABASE_URL`, or the
/// project's Postgres, started with `scripts/pg.sh up` the first time it is asked for.
/// Panics with the script's output when the server cannot be started.
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var(TEST_DATABASE_URL_ENV)
            && !url.trim().is_empty()
        {
            return url.trim().to_owned();
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("up")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        assert!(
            out.status.success(),
            "{script} up failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .find(|l| l.starts_with("postgres://") || l.starts_with("postgresql://"))
            .unwrap_or_else(|| panic!("{script} up printed no URL"))
            .to_owned()
    })
}

/// `url` with its database name replaced by `database` (query parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((b, p)) => (b, Some(p)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match params {
        Some(p) => format!("{root}/{database}?{p}"),
        None => format!("{root}/{database}"),
    }
}

/// A database of its own for one test, dropped when this guard is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    /// Its name (`test_<uuid>`).
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    /// A new, empty database (the vector extension comes from template1 on the project's
    /// server; the migrations create it elsewhere).
    pub async fn create() -> Result<Self, PgStoreError> {
        let admin_url = server_url().to_owned();
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = AsyncPgConnection::establish(&admin_url).await?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
        Ok(Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        })
    }

    /// A new database with the migrations applied.
    pub async fn migrated() -> Result<Self, PgStoreError> {
        let db = Self::create().await?;
        run_migrations(&db.url).await?;
        Ok(db)
    }

    /// A store on this database.
    pub async fn store(&self, config: PostgresConfig) -> Result<PostgresStore, PgStoreError> {
        PostgresStore::connect(&self.url, config).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime: use a thread with a runtime of its own, and wait for
        // it so the database is gone before the test binary exits.
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url).await {
                    let _ = diesel::sql_query(sql).execute(&mut conn).await;
                }
            });
        });
        let _ = dropper.join();
    }
}
