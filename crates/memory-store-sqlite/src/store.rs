//! [`SqliteStore`]: the ports implemented over one SQLite file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::connection::{DefaultLoadingMode, SimpleConnection};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::sqlite::Sqlite;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use memory_core::domain::{ConversationId, EmbeddingStatus, Message, MessageId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::{
    CandidateQuery, EmbeddingUpdate, LexicalDocument, LexicalMatches, LexicalQuery,
    MessageRepository, RetentionPolicyStore,
};
use memory_core::retention::{ArchiveRule, RetentionPolicy};
use memory_core::scoring::Candidate;
use tokio::sync::OwnedMutexGuard;

use crate::error::SqliteStoreError;
use crate::rows::{
    MessageRow, NewMessageRow, decode_embedding, decode_vector_into, message_id, to_micros,
};
use crate::schema::{archived_messages, messages, retention_policies, store_meta};
use crate::url::database_path;
use crate::vector::{Filter, Scored, TenantIndex, TopK, estimate_bytes, normalise};

/// The schema, embedded in the binary and applied by [`SqliteStore::open`].
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

const META_DIMENSION: &str = "embedding_dimension";
const META_MODEL: &str = "embedding_model";
/// Ids per `IN (...)` list: well under SQLite's variable limit.
const IDS_PER_QUERY: usize = 500;

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
    /// Threads one search may use to scan a large tenant (`0`: one per core).
    pub search_threads: usize,
}

impl SqliteStoreOptions {
    /// The defaults: 4 readers, 5 s timeouts, a 1 GiB vector index, searches on every core,
    /// no model check.
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension,
            model_id: None,
            readers: 4,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            vector_cache_bytes: 1 << 30,
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
}

/// The embedded store: [`MessageRepository`] and [`RetentionPolicyStore`] over one SQLite
/// file in WAL mode. Cheap to clone (clones share the connections and the vector index).
///
/// Every blocking SQLite call runs on tokio's blocking pool (`spawn_blocking`), so the methods
/// need a tokio runtime. Writes are serialised through one writer connection; reads use a
/// small pool. See `docs/storage-sqlite.md`.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("dimension", &self.inner.dim)
            .finish_non_exhaustive()
    }
}

struct Inner {
    path: PathBuf,
    dim: usize,
    acquire_timeout: Duration,
    search_threads: usize,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    readers: Pool<ConnectionManager<SqliteConnection>>,
    cache: Option<VectorCache>,
}

/// The one connection that writes, and the `PRAGMA data_version` it last saw: the value
/// changes only when another connection (another process) commits.
struct Writer {
    conn: SqliteConnection,
    data_version: i64,
}

type WriterGuard = OwnedMutexGuard<Writer>;

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

#[derive(QueryableByName)]
struct VectorRow {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    id: Vec<u8>,
    #[diesel(sql_type = Text)]
    conversation_id: String,
    #[diesel(sql_type = diesel::sql_types::Double)]
    importance_score: f64,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    embedding: Vec<u8>,
}

#[derive(QueryableByName)]
struct TenantRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    tenant_id: Option<String>,
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

fn id_bytes(id: MessageId) -> Vec<u8> {
    id.as_uuid().as_bytes().to_vec()
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn task_error(e: tokio::task::JoinError) -> SqliteStoreError {
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
        backfill_lexical(&mut conn)?;
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
    pub async fn insert_many(&self, messages: &[Message]) -> Result<(), RepositoryError> {
        for m in messages {
            self.inner.check_embedding(m.embedding.as_ref())?;
        }
        let batch = messages.to_vec();
        self.write(move |w, inner| inner.insert_rows(w, &batch))
            .await
            .map_err(Into::into)
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

    /// Runs `f` with the writer connection, after checking for writes of other processes.
    async fn write<T, F>(&self, f: F) -> Result<T, SqliteStoreError>
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
    async fn read<T, F>(&self, f: F) -> Result<T, SqliteStoreError>
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

fn data_version(conn: &mut SqliteConnection) -> Result<i64, SqliteStoreError> {
    Ok(diesel::sql_query("PRAGMA data_version")
        .get_result::<DataVersion>(conn)?
        .data_version)
}

impl Inner {
    async fn lock_writer(&self) -> Result<WriterGuard, SqliteStoreError> {
        tokio::time::timeout(self.acquire_timeout, self.writer.clone().lock_owned())
            .await
            .map_err(|_| SqliteStoreError::WriterTimeout(self.acquire_timeout))
    }

    fn check_embedding(
        &self,
        e: Option<&memory_core::domain::Embedding>,
    ) -> Result<(), SqliteStoreError> {
        match e {
            Some(e) if e.dimension() != self.dim => Err(SqliteStoreError::WrongDimension {
                got: e.dimension(),
                expected: self.dim,
            }),
            _ => Ok(()),
        }
    }

    /// Drops the vector index when another process wrote to the database since we last
    /// looked (our own writes go through `w` and do not change its `data_version`).
    ///
    /// Rows another process wrote without their analyzed text (a binary older than the lexical
    /// search migration) are analyzed here too, so the full-text index misses nothing.
    fn sync_external(&self, w: &mut Writer) -> Result<(), SqliteStoreError> {
        let v = data_version(&mut w.conn)?;
        if v != w.data_version {
            if let Some(cache) = &self.cache {
                tracing::info!("the database was changed by another process: reloading vectors");
                cache.clear();
            }
            backfill_lexical(&mut w.conn)?;
            w.data_version = v;
        }
        Ok(())
    }

    fn preload_tenant(
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

    fn insert_rows(&self, w: &mut Writer, batch: &[Message]) -> Result<(), SqliteStoreError> {
        w.conn.immediate_transaction(|c| {
            for (doc, m) in (next_lexical_doc(c)?..).zip(batch) {
                let id = *m.id.as_uuid().as_bytes();
                let row = NewMessageRow::new(m, &id, doc)?;
                diesel::insert_into(messages::table)
                    .values(&row)
                    .execute(c)?;
                if m.archived {
                    copy_to_archive(
                        c,
                        Box::new(messages::id.eq(id.to_vec())),
                        to_micros(m.updated_at),
                    )?;
                }
            }
            Ok::<_, SqliteStoreError>(())
        })?;
        if let Some(cache) = &self.cache {
            for m in batch {
                if let (Some(e), EmbeddingStatus::Completed, false) =
                    (&m.embedding, m.embedding_status, m.archived)
                    && let Some(idx) = cache.peek(&m.tenant_id)
                {
                    write_lock(&idx).upsert(
                        m.id,
                        m.conversation_id.as_str(),
                        m.importance_score.value(),
                        e.as_slice(),
                    );
                }
            }
        }
        Ok(())
    }

    /// The blocking part of a search. `None` means: the tenant's vectors should be loaded
    /// into the index, which needs the writer (call again with it).
    fn search_blocking(
        &self,
        q: &CandidateQuery,
        guard: Option<WriterGuard>,
    ) -> Result<Option<Vec<Candidate>>, SqliteStoreError> {
        let Some(cache) = &self.cache else {
            return self.scan_search(q).map(Some);
        };
        let mut guard = guard;
        if let Some(w) = guard.as_mut() {
            self.sync_external(w)?;
        }
        let index = match cache.get(&q.tenant_id) {
            Some(index) => {
                drop(guard);
                index
            }
            None => {
                let mut conn = self.readers.get()?;
                let n = count_searchable(&mut conn, &q.tenant_id)?;
                drop(conn);
                if estimate_bytes(n, self.dim) > cache.budget {
                    drop(guard);
                    return self.scan_search(q).map(Some);
                }
                let Some(mut w) = guard else {
                    return Ok(None);
                };
                let index = cache.load(&mut w.conn, &q.tenant_id, self.dim, n)?;
                drop(w);
                index
            }
        };
        let mut query = q.embedding.as_slice().to_vec();
        normalise(&mut query);
        let filter = Filter {
            conversation: q.conversation_id.as_ref().map(|c| c.as_str()),
            importance_min: q.importance_min.map(|i| i.value()),
        };
        let top = read_lock(&index).search(&query, filter, q.limit, self.search_threads);
        let mut conn = self.readers.get()?;
        fetch_candidates(&mut conn, top).map(Some)
    }

    /// Search by streaming the tenant's vectors from disk (no index).
    fn scan_search(&self, q: &CandidateQuery) -> Result<Vec<Candidate>, SqliteStoreError> {
        let mut conn = self.readers.get()?;
        let mut query = messages::table
            .select((messages::id, messages::embedding.assume_not_null()))
            .filter(messages::tenant_id.eq(q.tenant_id.as_str()))
            .filter(messages::archived.eq(false))
            .filter(messages::embedding_status.eq(EmbeddingStatus::Completed.as_str()))
            .into_boxed();
        if let Some(c) = &q.conversation_id {
            query = query.filter(messages::conversation_id.eq(c.as_str()));
        }
        if let Some(min) = q.importance_min {
            query = query.filter(messages::importance_score.ge(min.value()));
        }
        let mut query_vec = q.embedding.as_slice().to_vec();
        normalise(&mut query_vec);
        let mut top = TopK::new(q.limit);
        let mut buf = Vec::with_capacity(self.dim);
        for row in query.load_iter::<(Vec<u8>, Vec<u8>), DefaultLoadingMode>(&mut conn)? {
            let (id, blob) = row?;
            decode_vector_into(&blob, self.dim, &mut buf)?;
            normalise(&mut buf);
            let similarity = crate::vector::dot(&query_vec, &buf).clamp(-1.0, 1.0);
            if top.threshold().is_some_and(|t| similarity < t) {
                continue;
            }
            top.push(Scored {
                similarity,
                id: message_id(&id)?,
            });
        }
        fetch_candidates(&mut conn, top.into_sorted())
    }

    fn archive_blocking(
        &self,
        w: &mut Writer,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
    ) -> Result<u64, SqliteStoreError> {
        let before = to_micros(rule.created_before);
        let below = rule.importance_below.value();
        let now = to_micros(now);
        let cached = self.cache.as_ref().and_then(|c| c.peek(tenant));
        let matching = || -> MessageFilter {
            Box::new(
                messages::tenant_id
                    .eq(tenant.as_str().to_owned())
                    .and(messages::archived.eq(false))
                    .and(
                        messages::created_at
                            .lt(before)
                            .or(messages::importance_score.lt(below)),
                    ),
            )
        };
        let (n, ids) = w.conn.immediate_transaction(|c| {
            let ids: Vec<Vec<u8>> = if cached.is_some() {
                messages::table
                    .filter(matching())
                    .select(messages::id)
                    .load(c)?
            } else {
                Vec::new()
            };
            copy_to_archive(c, matching(), now)?;
            let n = diesel::update(messages::table.filter(matching()))
                .set((
                    messages::archived.eq(true),
                    messages::archived_at.eq(Some(now)),
                    messages::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok::<_, SqliteStoreError>((n, ids))
        })?;
        if let Some(idx) = cached {
            let mut idx = write_lock(&idx);
            for id in &ids {
                idx.remove(&message_id(id)?);
            }
        }
        Ok(n as u64)
    }
}

/// A condition on `messages`.
type MessageFilter = Box<dyn BoxableExpression<messages::table, Sqlite, SqlType = Bool>>;

/// Copies the messages matching `filter` into the archive, archived at `archived_at`.
fn copy_to_archive(
    c: &mut SqliteConnection,
    filter: MessageFilter,
    archived_at: i64,
) -> Result<usize, diesel::result::Error> {
    let select = messages::table.filter(filter).select((
        messages::id,
        messages::tenant_id,
        messages::conversation_id,
        messages::role,
        messages::content,
        messages::metadata,
        messages::importance_score,
        messages::embedding,
        messages::embedding_status,
        messages::created_at,
        archived_at.into_sql::<BigInt>(),
        archived_at.into_sql::<BigInt>(),
    ));
    diesel::replace_into(archived_messages::table)
        .values(select)
        .into_columns((
            archived_messages::id,
            archived_messages::tenant_id,
            archived_messages::conversation_id,
            archived_messages::role,
            archived_messages::content,
            archived_messages::metadata,
            archived_messages::importance_score,
            archived_messages::embedding,
            archived_messages::embedding_status,
            archived_messages::created_at,
            archived_messages::updated_at,
            archived_messages::archived_at,
        ))
        .execute(c)
}

/// The next free `lexical_doc` (call inside the writing transaction).
fn next_lexical_doc(c: &mut SqliteConnection) -> Result<i64, diesel::result::Error> {
    let max: Option<i64> = messages::table
        .select(diesel::dsl::max(messages::lexical_doc))
        .first(c)?;
    Ok(max.unwrap_or(0) + 1)
}

/// Rows analyzed per transaction by [`backfill_lexical`].
const BACKFILL_BATCH: i64 = 1000;

/// Analyzes the rows that have no `lexical_terms` yet (written before the lexical search
/// migration, or by an older binary), in batches of [`BACKFILL_BATCH`] rows per transaction;
/// the triggers add them to the full-text index. Returns how many rows were analyzed.
fn backfill_lexical(conn: &mut SqliteConnection) -> Result<u64, SqliteStoreError> {
    let started = Instant::now();
    let mut done = 0u64;
    loop {
        let n = conn.immediate_transaction(|c| {
            // A seek on NULL in `messages_lexical_doc`.
            let rows: Vec<(Vec<u8>, String)> = messages::table
                .filter(sql::<Bool>("lexical_doc IS NULL"))
                .select((messages::id, messages::content))
                .limit(BACKFILL_BATCH)
                .load(c)?;
            for (doc, (id, content)) in (next_lexical_doc(c)?..).zip(&rows) {
                let (terms, length) = crate::rows::analyze(content);
                diesel::update(messages::table.find(id))
                    .set((
                        messages::lexical_terms.eq(Some(terms)),
                        messages::lexical_length.eq(Some(length)),
                        messages::lexical_doc.eq(Some(doc)),
                    ))
                    .execute(c)?;
            }
            Ok::<_, SqliteStoreError>(rows.len())
        })?;
        done += n as u64;
        if n == 0 {
            break;
        }
        if done.is_multiple_of(100_000) {
            tracing::info!(rows = done, "analyzing stored messages for lexical search");
        }
    }
    if done > 0 {
        tracing::info!(
            rows = done,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "analyzed stored messages for lexical search"
        );
    }
    Ok(done)
}

/// The FTS5 query for `q`: its scope token AND any of its terms, every token quoted.
fn fts_query(q: &LexicalQuery) -> Option<String> {
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    let terms: Vec<String> = q
        .terms
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| quote(t))
        .collect();
    if terms.is_empty() {
        return None;
    }
    let scope = match &q.conversation_id {
        Some(c) => format!(
            "c{}x{}",
            hex(q.tenant_id.as_str().as_bytes()),
            hex(c.as_str().as_bytes())
        ),
        None => format!("t{}", hex(q.tenant_id.as_str().as_bytes())),
    };
    Some(format!(
        "scope : {} AND terms : ({})",
        quote(&scope),
        terms.join(" OR ")
    ))
}

/// Upper-case hex, as SQLite's `hex()` writes it (the triggers build the scope tokens).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A matched message: its row, embedding and analyzed text.
type LexicalRow = (MessageRow, Option<Vec<u8>>, Option<String>);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Doc {
    #[diesel(sql_type = BigInt)]
    doc: i64,
}

#[derive(QueryableByName)]
struct ScopeStats {
    #[diesel(sql_type = BigInt)]
    documents: i64,
    #[diesel(sql_type = BigInt)]
    terms: i64,
}

/// The blocking part of [`MessageRepository::lexical_candidates`], on one read transaction.
fn lexical_blocking(
    conn: &mut SqliteConnection,
    dim: usize,
    q: &LexicalQuery,
) -> Result<LexicalMatches, SqliteStoreError> {
    conn.transaction(|c| {
        let stats = scope_stats(c, q)?;
        let mut out = LexicalMatches {
            scope_size: u64::try_from(stats.documents).unwrap_or(0),
            average_length: if stats.documents > 0 {
                stats.terms as f64 / stats.documents as f64
            } else {
                0.0
            },
            documents: Vec::new(),
        };
        let Some(fts) = fts_query(q).filter(|_| q.limit > 0 && stats.documents > 0) else {
            return Ok(out);
        };
        // The full-text index alone ranks (its scope token restricts it to the tenant or
        // conversation, and it holds no archived message), then the winners' rows are read
        // by lexical_doc. Under importance_min some winners may fail the filter: rank more
        // and read again until `limit` pass or the matches run out.
        let mut want = q.limit;
        loop {
            let docs: Vec<i64> = diesel::sql_query(
                "SELECT rowid AS doc FROM messages_fts WHERE messages_fts MATCH ? \
                 ORDER BY bm25(messages_fts, 0.0, 1.0), rowid LIMIT ?",
            )
            .bind::<Text, _>(&fts)
            .bind::<BigInt, _>(limit_i64(want))
            .load::<Doc>(c)?
            .into_iter()
            .map(|d| d.doc)
            .collect();
            let mut rows: HashMap<i64, LexicalRow> = HashMap::with_capacity(docs.len());
            for chunk in docs.chunks(IDS_PER_QUERY) {
                let mut query = messages::table
                    .filter(messages::lexical_doc.eq_any(chunk.iter().map(|d| Some(*d))))
                    .filter(messages::tenant_id.eq(q.tenant_id.as_str()))
                    .filter(messages::archived.eq(false))
                    .select((
                        MessageRow::as_select(),
                        messages::embedding,
                        messages::lexical_terms,
                        messages::lexical_doc,
                    ))
                    .into_boxed();
                if let Some(conv) = &q.conversation_id {
                    query = query.filter(messages::conversation_id.eq(conv.as_str()));
                }
                if let Some(min) = q.importance_min {
                    query = query.filter(messages::importance_score.ge(min.value()));
                }
                for (row, embedding, terms, doc) in
                    query.load::<(MessageRow, Option<Vec<u8>>, Option<String>, Option<i64>)>(c)?
                {
                    if let Some(doc) = doc {
                        rows.insert(doc, (row, embedding, terms));
                    }
                }
            }
            let exhausted = docs.len() < want;
            if rows.len() >= q.limit || exhausted {
                for doc in docs {
                    if out.documents.len() == q.limit {
                        break;
                    }
                    let Some((row, embedding, terms)) = rows.remove(&doc) else {
                        continue;
                    };
                    let embedding = embedding.map(|b| decode_embedding(&b, dim)).transpose()?;
                    out.documents.push(LexicalDocument {
                        message: row.into_message(embedding)?,
                        terms: terms.unwrap_or_default(),
                    });
                }
                break;
            }
            want = want.saturating_mul(4);
        }
        Ok(out)
    })
}

/// The scope's size and total length: from `lexical_scopes`, or, under `importance_min`,
/// from the index `messages_lexical_scope`.
fn scope_stats(c: &mut SqliteConnection, q: &LexicalQuery) -> Result<ScopeStats, SqliteStoreError> {
    let (table, tail) = match q.importance_min {
        None => (
            "SELECT coalesce(sum(documents), 0) AS documents, coalesce(sum(terms), 0) AS terms \
             FROM lexical_scopes WHERE tenant_id = ?",
            "",
        ),
        Some(_) => (
            "SELECT count(*) AS documents, coalesce(sum(lexical_length), 0) AS terms \
             FROM messages INDEXED BY messages_lexical_scope \
             WHERE tenant_id = ? AND archived = 0",
            " AND importance_score >= ?",
        ),
    };
    let mut sql = String::from(table);
    if q.conversation_id.is_some() {
        sql.push_str(" AND conversation_id = ?");
    }
    sql.push_str(tail);
    let mut query = diesel::sql_query(sql)
        .into_boxed::<Sqlite>()
        .bind::<Text, _>(q.tenant_id.as_str().to_owned());
    if let Some(conv) = &q.conversation_id {
        query = query.bind::<Text, _>(conv.as_str().to_owned());
    }
    if let Some(min) = q.importance_min {
        query = query.bind::<diesel::sql_types::Double, _>(min.value());
    }
    Ok(query.get_result(c)?)
}

/// The tenant's searchable messages: non-archived, embedding completed.
fn count_searchable(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
) -> Result<usize, SqliteStoreError> {
    let n: i64 = messages::table
        .filter(messages::tenant_id.eq(tenant.as_str()))
        .filter(messages::archived.eq(false))
        .filter(messages::embedding_status.eq(EmbeddingStatus::Completed.as_str()))
        .count()
        .get_result(conn)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The messages of `top` (best first), read back without their embeddings. A message archived
/// since the scan is left out.
fn fetch_candidates(
    conn: &mut SqliteConnection,
    top: Vec<Scored>,
) -> Result<Vec<Candidate>, SqliteStoreError> {
    let mut rows: HashMap<MessageId, MessageRow> = HashMap::with_capacity(top.len());
    for chunk in top.chunks(IDS_PER_QUERY) {
        let ids: Vec<Vec<u8>> = chunk.iter().map(|s| id_bytes(s.id)).collect();
        let found: Vec<MessageRow> = messages::table
            .filter(messages::id.eq_any(ids))
            .filter(messages::archived.eq(false))
            .select(MessageRow::as_select())
            .load(conn)?;
        for r in found {
            rows.insert(message_id(&r.id)?, r);
        }
    }
    top.into_iter()
        .filter_map(|s| rows.remove(&s.id).map(|r| (s, r)))
        .map(|(s, r)| {
            Ok(Candidate {
                message: r.into_message(None)?,
                similarity: f64::from(s.similarity),
            })
        })
        .collect()
}

fn read_lock(idx: &RwLock<TenantIndex>) -> std::sync::RwLockReadGuard<'_, TenantIndex> {
    idx.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock(idx: &RwLock<TenantIndex>) -> std::sync::RwLockWriteGuard<'_, TenantIndex> {
    idx.write().unwrap_or_else(PoisonError::into_inner)
}

/// Per-tenant vector indexes, least recently used evicted past the budget.
///
/// Consistency: an index is loaded, and a cached tenant's rows are written, only while the
/// writer connection is held, and every write updates the cached index before releasing it.
/// So a cached index always equals the table (writes of other processes are detected through
/// `PRAGMA data_version` and drop the whole cache).
struct VectorCache {
    budget: usize,
    tick: AtomicU64,
    tenants: Mutex<HashMap<TenantId, CacheEntry>>,
}

struct CacheEntry {
    index: Arc<RwLock<TenantIndex>>,
    last_used: u64,
}

impl VectorCache {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            tick: AtomicU64::new(0),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, CacheEntry>> {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant's index, marking it used.
    fn get(&self, tenant: &TenantId) -> Option<Arc<RwLock<TenantIndex>>> {
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut map = self.map();
        let e = map.get_mut(tenant)?;
        e.last_used = tick;
        Some(e.index.clone())
    }

    /// The tenant's index, without marking it used.
    fn peek(&self, tenant: &TenantId) -> Option<Arc<RwLock<TenantIndex>>> {
        self.map().get(tenant).map(|e| e.index.clone())
    }

    fn clear(&self) {
        self.map().clear();
    }

    fn remove(&self, tenant: &TenantId) {
        self.map().remove(tenant);
    }

    fn bytes(&self) -> usize {
        self.map()
            .values()
            .map(|e| read_lock(&e.index).bytes())
            .sum()
    }

    /// Loads the tenant's vectors (call with the writer held), evicting others to fit.
    fn load(
        &self,
        conn: &mut SqliteConnection,
        tenant: &TenantId,
        dim: usize,
        expected: usize,
    ) -> Result<Arc<RwLock<TenantIndex>>, SqliteStoreError> {
        if let Some(idx) = self.get(tenant) {
            return Ok(idx);
        }
        let need = estimate_bytes(expected, dim);
        {
            let mut map = self.map();
            let mut held: usize = map.values().map(|e| read_lock(&e.index).bytes()).sum();
            while held + need > self.budget {
                let Some(victim) = map
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(t, _)| t.clone())
                else {
                    break;
                };
                if let Some(e) = map.remove(&victim) {
                    held = held.saturating_sub(read_lock(&e.index).bytes());
                    tracing::debug!(tenant = %victim, "evicted tenant vectors from the index");
                }
            }
        }
        let started = Instant::now();
        let mut index = TenantIndex::with_capacity(dim, expected);
        let mut buf = Vec::with_capacity(dim);
        // In creation order, which follows insertion order: the table is read front to back
        // instead of hopping between pages in the order of another index.
        let rows = diesel::sql_query(
            "SELECT id, conversation_id, importance_score, embedding \
             FROM messages INDEXED BY messages_tenant_created \
             WHERE tenant_id = ? AND archived = 0 AND embedding_status = 'completed' \
             ORDER BY created_at",
        )
        .bind::<Text, _>(tenant.as_str())
        .load_iter::<VectorRow, DefaultLoadingMode>(conn)?;
        for row in rows {
            let row = row?;
            decode_vector_into(&row.embedding, dim, &mut buf)?;
            index.upsert(
                message_id(&row.id)?,
                &row.conversation_id,
                row.importance_score,
                &buf,
            );
        }
        tracing::debug!(
            tenant = %tenant,
            messages = index.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded tenant vectors into the index"
        );
        let index = Arc::new(RwLock::new(index));
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        self.map().insert(
            tenant.clone(),
            CacheEntry {
                index: index.clone(),
                last_used: tick,
            },
        );
        Ok(index)
    }
}

#[async_trait]
impl MessageRepository for SqliteStore {
    async fn insert(&self, message: &Message) -> Result<(), RepositoryError> {
        self.inner.check_embedding(message.embedding.as_ref())?;
        let batch = [message.clone()];
        self.write(move |w, inner| inner.insert_rows(w, &batch))
            .await
            .map_err(Into::into)
    }

    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        self.read(move |c, inner| {
            let row = messages::table
                .find(id_bytes(id))
                .select((MessageRow::as_select(), messages::embedding))
                .first::<(MessageRow, Option<Vec<u8>>)>(c)
                .optional()?;
            row.map(|(r, e)| {
                let e = e.map(|b| decode_embedding(&b, inner.dim)).transpose()?;
                r.into_message(e)
            })
            .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        if let EmbeddingUpdate::Completed(e) = &update {
            self.inner.check_embedding(Some(e))?;
        }
        self.write(move |w, inner| {
            let key = id_bytes(id);
            let at = to_micros(at);
            let found = w.conn.immediate_transaction(|c| {
                let row = messages::table
                    .find(&key)
                    .select((
                        messages::tenant_id,
                        messages::conversation_id,
                        messages::importance_score,
                        messages::archived,
                    ))
                    .first::<(String, String, f64, bool)>(c)
                    .optional()?;
                if row.is_some() {
                    let target = messages::table.find(&key);
                    match &update {
                        EmbeddingUpdate::Completed(e) => diesel::update(target)
                            .set((
                                messages::embedding
                                    .eq(Some(crate::rows::encode_vector(e.as_slice()))),
                                messages::embedding_status.eq(EmbeddingStatus::Completed.as_str()),
                                messages::updated_at.eq(at),
                            ))
                            .execute(c)?,
                        EmbeddingUpdate::Failed => diesel::update(target)
                            .set((
                                messages::embedding_status.eq(EmbeddingStatus::Failed.as_str()),
                                messages::updated_at.eq(at),
                            ))
                            .execute(c)?,
                    };
                }
                Ok::<_, SqliteStoreError>(row)
            })?;
            let Some((tenant, conversation, importance, archived)) = found else {
                return Ok(false);
            };
            if let Some(cache) = &inner.cache {
                let tenant = TenantId::parse(tenant)
                    .map_err(|e| SqliteStoreError::Corrupt(e.to_string()))?;
                if let Some(idx) = cache.peek(&tenant) {
                    let mut idx = write_lock(&idx);
                    match &update {
                        EmbeddingUpdate::Completed(e) if !archived => {
                            idx.upsert(id, &conversation, importance, e.as_slice());
                        }
                        _ => idx.remove(&id),
                    }
                }
            }
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        self.inner.check_embedding(Some(&query.embedding))?;
        // Look for other processes' writes when the writer is free; never wait for it here.
        let guard = match &self.inner.cache {
            Some(_) => self.inner.writer.clone().try_lock_owned().ok(),
            None => None,
        };
        let had_writer = guard.is_some();
        let (inner, q) = (self.inner.clone(), query.clone());
        let first = tokio::task::spawn_blocking(move || inner.search_blocking(&q, guard))
            .await
            .map_err(task_error)??;
        if let Some(found) = first {
            return Ok(found);
        }
        debug_assert!(!had_writer);
        // The tenant's vectors are to be loaded, which needs the writer. If it stays busy,
        // scan from disk this time instead of failing.
        let guard = self.inner.lock_writer().await.ok();
        let (inner, q) = (self.inner.clone(), query.clone());
        tokio::task::spawn_blocking(move || match guard {
            Some(g) => inner
                .search_blocking(&q, Some(g))?
                .ok_or_else(|| SqliteStoreError::Task("vector index load refused".into())),
            None => inner.scan_search(&q),
        })
        .await
        .map_err(task_error)?
        .map_err(Into::into)
    }

    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let (tenant, rule) = (tenant.clone(), rule.clone());
        if dry_run {
            return self
                .read(move |c, _| {
                    let n: i64 = messages::table
                        .filter(messages::tenant_id.eq(tenant.as_str()))
                        .filter(messages::archived.eq(false))
                        .filter(
                            messages::created_at
                                .lt(to_micros(rule.created_before))
                                .or(messages::importance_score.lt(rule.importance_below.value())),
                        )
                        .count()
                        .get_result(c)?;
                    Ok(n as u64)
                })
                .await
                .map_err(Into::into);
        }
        self.write(move |w, inner| inner.archive_blocking(w, &tenant, &rule, now))
            .await
            .map_err(Into::into)
    }

    async fn purge_archived(
        &self,
        tenant: &TenantId,
        archived_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let tenant = tenant.clone();
        let cutoff = to_micros(archived_before);
        if dry_run {
            return self
                .read(move |c, _| {
                    let n: i64 = archived_messages::table
                        .filter(archived_messages::tenant_id.eq(tenant.as_str()))
                        .filter(archived_messages::archived_at.lt(cutoff))
                        .count()
                        .get_result(c)?;
                    Ok(n as u64)
                })
                .await
                .map_err(Into::into);
        }
        self.write(move |w, _| {
            w.conn.immediate_transaction(|c| {
                let doomed = archived_messages::table
                    .filter(archived_messages::tenant_id.eq(tenant.as_str()))
                    .filter(archived_messages::archived_at.lt(cutoff))
                    .select(archived_messages::id);
                // The archive copies go with their messages (ON DELETE CASCADE).
                // Driven by the archive's index, then one primary-key delete per copy.
                let n = diesel::delete(messages::table.filter(messages::id.eq_any(doomed)))
                    .execute(c)?;
                diesel::delete(
                    archived_messages::table
                        .filter(archived_messages::tenant_id.eq(tenant.as_str()))
                        .filter(archived_messages::archived_at.lt(cutoff)),
                )
                .execute(c)?;
                Ok::<_, SqliteStoreError>(n as u64)
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        self.read(move |c, inner| {
            // Literal terms, so SQLite picks the partial index `messages_pending`.
            let rows = messages::table
                .filter(sql::<Bool>(
                    "archived = 0 AND embedding_status <> 'completed'",
                ))
                .order((messages::created_at.asc(), messages::id.asc()))
                .limit(limit_i64(limit))
                .select((MessageRow::as_select(), messages::embedding))
                .load::<(MessageRow, Option<Vec<u8>>)>(c)?;
            rows.into_iter()
                .map(|(r, e)| {
                    let e = e.map(|b| decode_embedding(&b, inner.dim)).transpose()?;
                    r.into_message(e)
                })
                .collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        self.read(|c, _| {
            // A skip scan over the index on tenant_id: one seek per tenant, not one per row.
            let rows = diesel::sql_query(
                "WITH RECURSIVE t(tenant_id) AS ( \
                   SELECT MIN(tenant_id) FROM messages \
                   UNION ALL \
                   SELECT (SELECT MIN(tenant_id) FROM messages WHERE tenant_id > t.tenant_id) \
                   FROM t WHERE t.tenant_id IS NOT NULL) \
                 SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL",
            )
            .load::<TenantRow>(c)?;
            rows.into_iter()
                .filter_map(|r| r.tenant_id)
                .map(|t| TenantId::parse(t).map_err(|e| SqliteStoreError::Corrupt(e.to_string())))
                .collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn health(&self) -> Result<(), RepositoryError> {
        self.read(|c, _| {
            diesel::select(1.into_sql::<diesel::sql_types::Integer>()).get_result::<i32>(c)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }
    async fn lexical_candidates(
        &self,
        query: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        let q = query.clone();
        self.read(move |c, inner| lexical_blocking(c, inner.dim, &q))
            .await
            .map_err(Into::into)
    }

    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        self.read(move |c, _| {
            // `IN` rather than `<> 'completed'`: two seeks into the scope's index, which then
            // answers alone. Without a tenant, the partial index `messages_pending`.
            let n: i64 = match (&tenant, &conversation) {
                (None, conv) => {
                    // The partial index holds exactly the backlog (the planner would rather
                    // walk a whole covering index).
                    let mut sql = String::from(
                        "SELECT count(*) AS n FROM messages INDEXED BY messages_pending \
                         WHERE archived = 0 AND embedding_status <> 'completed'",
                    );
                    if conv.is_some() {
                        sql.push_str(" AND conversation_id = ?");
                    }
                    let mut query = diesel::sql_query(sql).into_boxed::<Sqlite>();
                    if let Some(conv) = conv {
                        query = query.bind::<Text, _>(conv.as_str().to_owned());
                    }
                    query.get_result::<Count>(c)?.n
                }
                (Some(t), None) => messages::table
                    .filter(messages::tenant_id.eq(t.as_str()))
                    .filter(messages::archived.eq(false))
                    .filter(messages::embedding_status.eq_any(["pending", "failed"]))
                    .count()
                    .get_result(c)?,
                (Some(t), Some(conv)) => messages::table
                    .filter(messages::tenant_id.eq(t.as_str()))
                    .filter(messages::conversation_id.eq(conv.as_str()))
                    .filter(messages::archived.eq(false))
                    .filter(messages::embedding_status.eq_any(["pending", "failed"]))
                    .count()
                    .get_result(c)?,
            };
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
        .map_err(Into::into)
    }

    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError> {
        let (tenant, conversation) = (tenant.clone(), conversation.clone());
        self.write(move |w, inner| {
            let cached = inner.cache.as_ref().and_then(|c| c.peek(&tenant));
            let scope = || {
                messages::tenant_id
                    .eq(tenant.as_str())
                    .and(messages::conversation_id.eq(conversation.as_str()))
            };
            let (n, ids) = w.conn.immediate_transaction(|c| {
                let ids: Vec<Vec<u8>> = if cached.is_some() {
                    messages::table
                        .filter(scope())
                        .select(messages::id)
                        .load(c)?
                } else {
                    Vec::new()
                };
                // Archived copies go with their messages (ON DELETE CASCADE); the triggers
                // take them out of the full-text index and the scope statistics.
                let n = diesel::delete(messages::table.filter(scope())).execute(c)?;
                Ok::<_, SqliteStoreError>((n, ids))
            })?;
            if let Some(idx) = cached {
                let mut idx = write_lock(&idx);
                for id in &ids {
                    idx.remove(&message_id(id)?);
                }
            }
            Ok(n as u64)
        })
        .await
        .map_err(Into::into)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        let tenant = tenant.clone();
        self.write(move |w, inner| {
            let n = w.conn.immediate_transaction(|c| {
                let n =
                    diesel::delete(messages::table.filter(messages::tenant_id.eq(tenant.as_str())))
                        .execute(c)?;
                // Copies without a message cannot exist (foreign key); this is belt and braces.
                diesel::delete(
                    archived_messages::table
                        .filter(archived_messages::tenant_id.eq(tenant.as_str())),
                )
                .execute(c)?;
                diesel::delete(retention_policies::table.find(tenant.as_str())).execute(c)?;
                Ok::<_, SqliteStoreError>(n)
            })?;
            if let Some(cache) = &inner.cache {
                cache.remove(&tenant);
            }
            Ok(n as u64)
        })
        .await
        .map_err(Into::into)
    }

    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        let (tenant, conversation) = (tenant.clone(), conversation.clone());
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        self.read(move |c, _| {
            let ids: Vec<Vec<u8>> = messages::table
                .filter(messages::tenant_id.eq(tenant.as_str()))
                .filter(messages::conversation_id.eq(conversation.as_str()))
                .filter(messages::archived.eq(false))
                .order((messages::created_at.asc(), messages::id.asc()))
                .select(messages::id)
                .limit(fetch)
                .load(c)?;
            if ids.len() > limit {
                return Ok(None);
            }
            ids.iter()
                .map(|id| message_id(id))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        })
        .await
        .map_err(Into::into)
    }
}

#[async_trait]
impl RetentionPolicyStore for SqliteStore {
    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError> {
        let tenant = tenant.clone();
        self.read(move |c, _| {
            let row = retention_policies::table
                .find(tenant.as_str())
                .select((
                    retention_policies::max_age_days,
                    retention_policies::importance_threshold,
                    retention_policies::delete_after_days,
                ))
                .first::<(i32, f64, i32)>(c)
                .optional()?;
            row.map(|(age, threshold, delete)| {
                let days = |v: i32| {
                    u32::try_from(v)
                        .map_err(|_| SqliteStoreError::Corrupt(format!("policy days {v}")))
                };
                RetentionPolicy::new(days(age)?, threshold, days(delete)?)
                    .map_err(|e| SqliteStoreError::Corrupt(e.to_string()))
            })
            .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<(), RepositoryError> {
        let (tenant, policy) = (tenant.clone(), policy.clone());
        self.write(move |w, _| {
            let days = |v: u32| {
                i32::try_from(v).map_err(|_| SqliteStoreError::Corrupt(format!("policy days {v}")))
            };
            let values = (
                retention_policies::tenant_id.eq(tenant.as_str()),
                retention_policies::max_age_days.eq(days(policy.max_age_days)?),
                retention_policies::importance_threshold.eq(policy.importance_threshold.value()),
                retention_policies::delete_after_days.eq(days(policy.delete_after_days)?),
                retention_policies::updated_at.eq(to_micros(Utc::now())),
            );
            diesel::insert_into(retention_policies::table)
                .values(values)
                .on_conflict(retention_policies::tenant_id)
                .do_update()
                .set(values)
                .execute(&mut w.conn)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }
}
