//! Opening the store: options, the connections (one writer, a reader pool), the schema and
//! model check, and the helpers every feature file runs its queries through.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use memory_core::domain::{MessageId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::{MessageRecord, MessageStore};
use tokio::sync::OwnedMutexGuard;

use crate::error::SqliteStoreError;
use crate::lexical_cache::LexicalCache;
use crate::schema::{archived_messages, messages, store_meta};
use crate::url::database_path;
use crate::vector::count_searchable;
use crate::vector_cache::VectorCache;
use crate::vector_index::estimate_bytes;

/// The schema, embedded in the binary and applied by [`SqliteStore::open`].
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

const META_DIMENSION: &str = "embedding_dimension";
const META_MODEL: &str = "embedding_model";
/// Ids per `IN (...)` list: well under SQLite's variable limit.
pub(crate) const IDS_PER_QUERY: usize = 500;

/// How a [`SqliteStore`] is opened. [`SqliteStoreOptions::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteStoreOptions {
    /// Dimension of every embedding (the embedder's).
    pub dimension: usize,
    /// The embedder's model id, recorded in the database; opening a database whose embeddings
    /// came from another model fails. `None` skips the check.
    pub model_id: Option<String>,
    /// Reader connections in the pool (writes go through one connection of their own).
    pub readers: u32,
    /// How long an operation waits for a free connection before failing `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a lock held by another process (`PRAGMA busy_timeout`).
    pub busy_timeout: Duration,
    /// Memory budget of the in-memory vector index, in bytes; `0` disables it (every search
    /// then scans the table). A tenant whose vectors do not fit is scanned from disk.
    pub vector_cache_bytes: usize,
    /// Memory budget of the in-memory lexical index (each searched tenant's postings), in
    /// bytes; `0` disables it (every lexical search then reads all its matches from FTS5).
    pub lexical_cache_bytes: usize,
    /// Threads one search may use to scan a large tenant (`0`: one per core).
    pub search_threads: usize,
}

impl SqliteStoreOptions {
    /// The defaults: 4 readers, 5 s timeouts, a 1 GiB vector index, a 256 MiB lexical index,
    /// searches on every core, no model check.
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension,
            model_id: None,
            readers: 4,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            vector_cache_bytes: 1 << 30,
            lexical_cache_bytes: 256 << 20,
            search_threads: 0,
        }
    }

    /// Records and checks the embedding model id.
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
        self
    }

    /// Sets the threads one search may use (`0`: one per core).
    pub fn search_threads(mut self, threads: usize) -> Self {
        self.search_threads = threads;
        self
    }

    /// Sets the vector index budget (`0` disables the index).
    pub fn vector_cache_bytes(mut self, bytes: usize) -> Self {
        self.vector_cache_bytes = bytes;
        self
    }

    /// Sets the lexical index budget (`0` disables the index).
    pub fn lexical_cache_bytes(mut self, bytes: usize) -> Self {
        self.lexical_cache_bytes = bytes;
        self
    }
}

/// The embedded store: [`MessageRepository`] and [`RetentionPolicyStore`] over one SQLite
/// file in WAL mode. Cheap to clone (clones share the connections and the vector index).
///
/// Every blocking SQLite call runs on tokio's blocking pool (`spawn_blocking`), so the methods
/// need a tokio runtime. Writes are serialised through one writer connection; reads use a
/// small pool. See `docs/storage-sqlite.md`.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("dimension", &self.inner.dim)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) dim: usize,
    pub(crate) acquire_timeout: Duration,
    pub(crate) search_threads: usize,
    pub(crate) writer: Arc<tokio::sync::Mutex<Writer>>,
    pub(crate) readers: Pool<ConnectionManager<SqliteConnection>>,
    pub(crate) cache: Option<VectorCache>,
    pub(crate) lexical: Option<LexicalCache>,
}

/// The one connection that writes, and the `PRAGMA data_version` it last saw: the value
/// changes only when another connection (another process) commits.
pub(crate) struct Writer {
    pub(crate) conn: SqliteConnection,
    pub(crate) data_version: i64,
}

pub(crate) type WriterGuard = OwnedMutexGuard<Writer>;

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

/// Pragmas of every reader connection.
#[derive(Debug)]
struct ReaderSetup {
    busy_timeout_ms: u64,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ReaderSetup {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA query_only = ON; \
             PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY; \
             PRAGMA mmap_size = 268435456;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

fn path_str(path: &Path, url: &str) -> Result<String, SqliteStoreError> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| SqliteStoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "the path is not valid UTF-8".into(),
        })
}

pub(crate) fn id_bytes(id: MessageId) -> Vec<u8> {
    id.as_uuid().as_bytes().to_vec()
}

pub(crate) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(crate) fn task_error(e: tokio::task::JoinError) -> SqliteStoreError {
    SqliteStoreError::Task(e.to_string())
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `url` —
    /// `sqlite://path`, `sqlite:path` or a plain path — for embeddings of `dimension` values,
    /// and applies the embedded migrations. Blocking: call it at startup (or from
    /// `spawn_blocking`).
    ///
    /// Fails with [`SqliteStoreError::DimensionMismatch`] when the database holds embeddings
    /// of another dimension.
    pub fn open(url: &str, dimension: usize) -> Result<Self, SqliteStoreError> {
        Self::open_with(url, SqliteStoreOptions::new(dimension))
    }

    /// [`SqliteStore::open`] with every option.
    pub fn open_with(url: &str, options: SqliteStoreOptions) -> Result<Self, SqliteStoreError> {
        let path = database_path(url)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| SqliteStoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let file = path_str(&path, url)?;
        let busy_ms = u64::try_from(options.busy_timeout.as_millis()).unwrap_or(u64::MAX);

        let mut conn = SqliteConnection::establish(&file)?;
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {busy_ms}; PRAGMA foreign_keys = ON; \
             PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16000; \
             PRAGMA temp_store = MEMORY;"
        ))?;
        let mode =
            diesel::sql_query("PRAGMA journal_mode = WAL").get_result::<JournalMode>(&mut conn)?;
        if !mode.journal_mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteStoreError::Migration(format!(
                "cannot switch {} to WAL mode (journal_mode is {})",
                path.display(),
                mode.journal_mode
            )));
        }
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| SqliteStoreError::Migration(e.to_string()))?;
        check_meta(&mut conn, &path, &options)?;
        let data_version = data_version(&mut conn)?;

        let readers = Pool::builder()
            .max_size(options.readers.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.acquire_timeout)
            .test_on_check_out(false)
            .connection_customizer(Box::new(ReaderSetup {
                busy_timeout_ms: busy_ms,
            }))
            .build(ConnectionManager::<SqliteConnection>::new(file))?;

        tracing::info!(
            path = %path.display(),
            dimension = options.dimension,
            "opened SQLite store"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                dim: options.dimension,
                acquire_timeout: options.acquire_timeout,
                search_threads: options.search_threads,
                writer: Arc::new(tokio::sync::Mutex::new(Writer { conn, data_version })),
                readers,
                cache: (options.vector_cache_bytes > 0)
                    .then(|| VectorCache::new(options.vector_cache_bytes)),
                lexical: (options.lexical_cache_bytes > 0)
                    .then(|| LexicalCache::new(options.lexical_cache_bytes)),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The embedding dimension.
    pub fn dimension(&self) -> usize {
        self.inner.dim
    }

    /// Stores many new messages in one transaction: all or none (a duplicate id fails the
    /// batch with `Conflict`). For imports and benchmarks; much faster than one `insert` each.
    pub async fn insert_many(&self, records: &[MessageRecord]) -> Result<(), RepositoryError> {
        memory_core::ports::MessageStore::insert_batch(self, records, None).await
    }

    /// Loads every tenant's vectors into the in-memory index, as far as the budget allows
    /// (it never evicts), so the first searches after a start do not pay for it (about 0.3 s
    /// per 100k messages). Writes wait while a tenant loads: run it at startup, or in a
    /// background task. Returns how many tenants the index holds afterwards.
    pub async fn preload_vectors(&self) -> Result<usize, RepositoryError> {
        if self.inner.cache.is_none() {
            return Ok(0);
        }
        let mut held = 0;
        for tenant in self.list_tenants().await? {
            let guard = self.inner.lock_writer().await?;
            let inner = self.inner.clone();
            let loaded = tokio::task::spawn_blocking(move || inner.preload_tenant(guard, &tenant))
                .await
                .map_err(task_error)??;
            held += usize::from(loaded);
        }
        Ok(held)
    }

    /// Bytes held by the in-memory vector index now (0 when disabled).
    pub fn vector_cache_bytes(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, VectorCache::bytes)
    }

    /// Bytes held by the in-memory lexical index now (0 when disabled).
    pub fn lexical_cache_bytes(&self) -> usize {
        self.inner.lexical.as_ref().map_or(0, LexicalCache::bytes)
    }

    /// Runs `f` with the writer connection, after checking for writes of other processes.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, SqliteStoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer, &Inner) -> Result<T, SqliteStoreError> + Send + 'static,
    {
        let guard = self.inner.lock_writer().await?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = guard;
            inner.sync_external(&mut guard)?;
            f(&mut guard, &inner)
        })
        .await
        .map_err(task_error)?
    }

    /// Runs `f` with a reader connection.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, SqliteStoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection, &Inner) -> Result<T, SqliteStoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.readers.get()?;
            f(&mut conn, &inner)
        })
        .await
        .map_err(task_error)?
    }
}

/// Records (first open) or checks the embedding dimension and model.
fn check_meta(
    conn: &mut SqliteConnection,
    path: &Path,
    options: &SqliteStoreOptions,
) -> Result<(), SqliteStoreError> {
    conn.immediate_transaction(|c| {
        let get = |c: &mut SqliteConnection, key: &str| {
            store_meta::table
                .find(key)
                .select(store_meta::value)
                .first::<String>(c)
                .optional()
        };
        let put = |c: &mut SqliteConnection, key: &str, value: &str| {
            diesel::replace_into(store_meta::table)
                .values((store_meta::key.eq(key), store_meta::value.eq(value)))
                .execute(c)
        };
        let stored_dim = get(c, META_DIMENSION)?;
        let vectors_stored = diesel::select(diesel::dsl::exists(
            messages::table.filter(messages::embedding.is_not_null()),
        ))
        .get_result::<bool>(c)?
            // Vectors of another model only matter if some are stored.
            || diesel::select(diesel::dsl::exists(
                archived_messages::table.filter(archived_messages::embedding.is_not_null()),
            ))
            .get_result::<bool>(c)?;
        match stored_dim {
            Some(s) => {
                let stored: usize = s
                    .parse()
                    .map_err(|_| SqliteStoreError::Corrupt(format!("{META_DIMENSION} is {s:?}")))?;
                if stored != options.dimension {
                    if vectors_stored {
                        return Err(SqliteStoreError::DimensionMismatch {
                            path: path.to_owned(),
                            stored,
                            configured: options.dimension,
                        });
                    }
                    tracing::info!(
                        stored,
                        configured = options.dimension,
                        "no embeddings stored yet: recording the new embedding dimension"
                    );
                    put(c, META_DIMENSION, &options.dimension.to_string())?;
                }
            }
            None => {
                put(c, META_DIMENSION, &options.dimension.to_string())?;
            }
        }
        if let Some(model) = &options.model_id {
            match get(c, META_MODEL)? {
                Some(stored) if stored != *model && vectors_stored => {
                    return Err(SqliteStoreError::ModelMismatch {
                        path: path.to_owned(),
                        stored,
                        configured: model.clone(),
                    });
                }
                Some(stored) if stored == *model => {}
                _ => {
                    put(c, META_MODEL, model)?;
                }
            }
        }
        Ok(())
    })
}

pub(crate) fn data_version(conn: &mut SqliteConnection) -> Result<i64, SqliteStoreError> {
    Ok(diesel::sql_query("PRAGMA data_version")
        .get_result::<DataVersion>(conn)?
        .data_version)
}

impl Inner {
    pub(crate) async fn lock_writer(&self) -> Result<WriterGuard, SqliteStoreError> {
        tokio::time::timeout(self.acquire_timeout, self.writer.clone().lock_owned())
            .await
            .map_err(|_| SqliteStoreError::WriterTimeout(self.acquire_timeout))
    }

    /// Drops the in-memory indexes when another process wrote to the database since we last
    /// looked (our own writes go through `w` and do not change its `data_version`).
    ///
    pub(crate) fn sync_external(&self, w: &mut Writer) -> Result<(), SqliteStoreError> {
        let v = data_version(&mut w.conn)?;
        if v != w.data_version {
            if let Some(cache) = &self.cache {
                tracing::info!("the database was changed by another process: reloading vectors");
                cache.clear();
            }
            if let Some(lexical) = &self.lexical {
                lexical.clear();
            }
            w.data_version = v;
        }
        Ok(())
    }

    pub(crate) fn preload_tenant(
        &self,
        mut guard: WriterGuard,
        tenant: &TenantId,
    ) -> Result<bool, SqliteStoreError> {
        let Some(cache) = &self.cache else {
            return Ok(false);
        };
        self.sync_external(&mut guard)?;
        if cache.peek(tenant).is_some() {
            return Ok(true);
        }
        let n = count_searchable(&mut guard.conn, tenant)?;
        if cache.bytes() + estimate_bytes(n, self.dim) > cache.budget {
            return Ok(false);
        }
        cache.load(&mut guard.conn, tenant, self.dim, n)?;
        Ok(true)
    }
}
