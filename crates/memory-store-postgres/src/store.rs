//! [`PostgresStore`]: the repository ports on a diesel-async deadpool pool.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::ExpressionMethods as _;
use diesel::OptionalExtension as _;
use diesel::QueryDsl as _;
use diesel::SelectableHelper as _;
use diesel::sql_types::{BigInt, Double, Text, Timestamptz};
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError as ManagerError, RecyclingMethod,
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use futures::FutureExt as _;
use memory_core::domain::{ConversationId, Message, MessageId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::{
    CandidateQuery, EmbeddingUpdate, LexicalMatches, LexicalQuery, MessageRepository,
    RetentionPolicyStore,
};
use memory_core::retention::{ArchiveRule, RetentionPolicy};
use memory_core::scoring::Candidate;
use pgvector::Vector;

use crate::config::PostgresConfig;
use crate::error::PgStoreError;
use crate::rows::{CountRow, MessageRow, NewMessageRow, PolicyRow, SearchRow, TenantRow};
use crate::schema::{messages, retention_policies};
use crate::search;

/// An async closure over a connection whose future is `Send` (what `async_trait` needs).
/// The same device as diesel-async's bound on `AsyncConnection::transaction`.
pub(crate) trait ConnOp<'r, T>:
    AsyncFnOnce(&'r mut AsyncPgConnection) -> Result<T, PgStoreError>
    + FnOnce(&'r mut AsyncPgConnection) -> <Self as ConnOp<'r, T>>::Fut
{
    type Fut: Future<Output = Result<T, PgStoreError>> + Send;
}

impl<'r, T, F, Fut> ConnOp<'r, T> for F
where
    F: AsyncFnOnce(&'r mut AsyncPgConnection) -> Result<T, PgStoreError>
        + FnOnce(&'r mut AsyncPgConnection) -> Fut,
    Fut: Future<Output = Result<T, PgStoreError>> + Send,
{
    type Fut = Fut;
}

/// The connection pool the store runs on.
pub type PgPool = Pool<AsyncPgConnection>;

/// Retention works in batches of this many rows, each its own statement, so one batch stays
/// well inside the operation timeout however large the tenant.
const RETENTION_BATCH: i64 = 5_000;

/// Most scopes whose size class is remembered; the cache is cleared when it would grow past.
const SCOPE_CACHE_MAX: usize = 100_000;

/// How a search was (or would be) answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPath {
    /// An exact scan of the scope through the btree.
    Exact,
    /// The HNSW index with an iterative scan.
    Index,
}

/// Identifies a search scope for the size cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ScopeKey {
    tenant: String,
    conversation: Option<String>,
    importance_min_bits: Option<u64>,
}

impl ScopeKey {
    fn of(q: &CandidateQuery) -> Self {
        Self {
            tenant: q.tenant_id.as_str().to_owned(),
            conversation: q.conversation_id.as_ref().map(|c| c.as_str().to_owned()),
            importance_min_bits: q.importance_min.map(|i| i.value().to_bits()),
        }
    }
}

struct Inner {
    pool: PgPool,
    config: PostgresConfig,
    scope_cache: Mutex<HashMap<ScopeKey, (bool, Instant)>>,
}

/// memory-core's [`MessageRepository`] and [`RetentionPolicyStore`] on Postgres + pgvector.
/// Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("config", &self.inner.config)
            .field("pool", &self.inner.pool.status())
            .finish()
    }
}

fn pool_error(e: PoolError, config: &PostgresConfig) -> PgStoreError {
    match e {
        PoolError::Timeout(kind) => PgStoreError::Unavailable(format!(
            "no database connection available ({kind:?} timeout; pool of {}, wait {:?}, \
             connect {:?})",
            config.pool_size, config.acquire_timeout, config.connect_timeout
        )),
        PoolError::Backend(ManagerError::ConnectionError(e)) => {
            PgStoreError::Unavailable(format!("cannot connect: {e}"))
        }
        PoolError::Backend(ManagerError::QueryError(e)) => {
            PgStoreError::Unavailable(format!("connection check failed: {e}"))
        }
        PoolError::Closed => PgStoreError::Unavailable("the pool is closed".into()),
        other => PgStoreError::Unavailable(other.to_string()),
    }
}

impl PostgresStore {
    /// Builds the pool and checks the schema: the `messages` table must exist (run the
    /// migrations first) and its embedding column must have `config.dimension` dimensions
    /// ([`PgStoreError::DimensionMismatch`] otherwise). A database that cannot be reached is
    /// [`PgStoreError::Unavailable`] within `connect_timeout`.
    pub async fn connect(url: &str, config: PostgresConfig) -> Result<Self, PgStoreError> {
        config.validate()?;
        let connect_timeout = config.connect_timeout;
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        // `Fast`: a connection that broke is noticed (is_broken) and replaced; no extra
        // round trip per checkout.
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            async move {
                match tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(&url))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(diesel::ConnectionError::BadConnection(format!(
                        "no connection within {connect_timeout:?}"
                    ))),
                }
            }
            .boxed()
        });
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, manager_config);
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| PgStoreError::Config(format!("pool: {e}")))?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                config,
                scope_cache: Mutex::new(HashMap::new()),
            }),
        };
        store.check_schema().await?;
        let analyzed = store.backfill_lexical().await?;
        if analyzed > 0 {
            tracing::info!(
                messages = analyzed,
                "analyzed messages stored before lexical search"
            );
        }
        Ok(store)
    }

    /// The pool, for health checks and tests.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The configuration in force.
    pub fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    async fn check_schema(&self) -> Result<(), PgStoreError> {
        #[derive(diesel::QueryableByName)]
        struct Typmod {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            atttypmod: i32,
        }
        let rows: Vec<Typmod> = self
            .with_conn("check schema", async |conn| {
                Ok(diesel::sql_query(
                    "SELECT a.atttypmod FROM pg_attribute a \
                         WHERE a.attrelid = to_regclass('messages') \
                         AND a.attname = 'embedding' AND NOT a.attisdropped",
                )
                .load(conn)
                .await?)
            })
            .await?;
        let Some(row) = <[Typmod]>::first(&rows) else {
            return Err(PgStoreError::Schema(
                "table messages with column embedding not found: apply the migrations \
                 (`memory-server migrate`, or MEMORY_AUTO_MIGRATE=true)"
                    .into(),
            ));
        };
        let configured = self.inner.config.dimension;
        // pgvector stores the dimension as the column's type modifier (-1: unconstrained).
        let stored = usize::try_from(row.atttypmod).map_err(|_| {
            PgStoreError::Schema("messages.embedding has no fixed dimension".into())
        })?;
        if stored != configured {
            return Err(PgStoreError::DimensionMismatch { configured, stored });
        }
        Ok(())
    }

    /// Runs `f` on a pooled connection: waiting for it is bounded by the pool's timeouts, and
    /// `f` by the operation timeout (after which the connection is discarded, not reused).
    pub(crate) async fn with_conn<T, F>(&self, what: &'static str, f: F) -> Result<T, PgStoreError>
    where
        T: Send,
        F: for<'r> ConnOp<'r, T> + Send,
    {
        let config = &self.inner.config;
        let mut conn = self
            .inner
            .pool
            .get()
            .await
            .map_err(|e| pool_error(e, config))?;
        let result = tokio::time::timeout(config.operation_timeout, f(&mut conn)).await;
        match result {
            Ok(r) => r,
            Err(_) => {
                // The query may still be running: never hand this connection out again.
                drop(Object::take(conn));
                Err(PgStoreError::Unavailable(format!(
                    "{what} took longer than {:?}",
                    config.operation_timeout
                )))
            }
        }
    }

    fn check_dimension(&self, e: &memory_core::domain::Embedding) -> Result<(), PgStoreError> {
        let expected = self.inner.config.dimension;
        if e.dimension() == expected {
            Ok(())
        } else {
            Err(PgStoreError::Config(format!(
                "embedding has {} dimensions, the store {expected}",
                e.dimension()
            )))
        }
    }

    /// Whether `q`'s scope is large enough for the index (cached for `scope_size_cache_ttl`).
    async fn scope_is_large(
        &self,
        conn: &mut AsyncPgConnection,
        q: &CandidateQuery,
    ) -> Result<bool, PgStoreError> {
        let config = &self.inner.config;
        match config.exact_scan_threshold {
            0 => return Ok(true),
            u64::MAX => return Ok(false),
            _ => {}
        }
        let key = ScopeKey::of(q);
        if let Some(&(large, at)) = self.cache().get(&key)
            && at.elapsed() < config.scope_size_cache_ttl
        {
            return Ok(large);
        }
        let count: CountRow = search::capped_count(q, config.exact_scan_threshold)
            .get_result(conn)
            .await?;
        let large = u64::try_from(count.n).unwrap_or(0) >= config.exact_scan_threshold;
        let mut cache = self.cache();
        if cache.len() >= SCOPE_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (large, Instant::now()));
        Ok(large)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<ScopeKey, (bool, Instant)>> {
        // The map holds no invariant a panic could break: recover from poisoning.
        self.inner
            .scope_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets every scope's remembered size class (tests, or after a bulk import).
    pub fn clear_scope_cache(&self) {
        self.cache().clear();
    }

    /// Searches like [`MessageRepository::search_candidates`] and tells which path answered.
    pub async fn search_with_path(
        &self,
        q: &CandidateQuery,
    ) -> Result<(Vec<Candidate>, SearchPath), PgStoreError> {
        self.check_dimension(&q.embedding)?;
        if q.limit == 0 {
            return Ok((Vec::new(), SearchPath::Exact));
        }
        let vector = Vector::from(q.embedding.as_slice().to_vec());
        let config = &self.inner.config;
        let ef = config
            .hnsw_ef_search
            .max(u32::try_from(q.limit).unwrap_or(u32::MAX))
            .min(1_000);
        let max_scan = config.hnsw_max_scan_tuples;
        let (rows, path) = self
            .with_conn("search", async |conn| {
                if self.scope_is_large(conn, q).await? {
                    let vector = &vector;
                    let rows: Vec<SearchRow> = conn
                        .transaction::<_, PgStoreError, _>(async |conn| {
                            search::ann_settings(ef, max_scan).execute(conn).await?;
                            Ok(search::ann(q, vector, false).load(conn).await?)
                        })
                        .await?;
                    // Fewer than asked: the scope has fewer eligible rows, or the iterative
                    // scan gave up (hnsw.max_scan_tuples). The exact scan is always complete.
                    if rows.len() >= q.limit {
                        return Ok((rows, SearchPath::Index));
                    }
                    tracing::debug!(
                        tenant = %q.tenant_id,
                        got = rows.len(),
                        limit = q.limit,
                        "index search returned too few rows; exact scan"
                    );
                }
                let rows: Vec<SearchRow> = search::exact(q, &vector, false).load(conn).await?;
                Ok((rows, SearchPath::Exact))
            })
            .await?;
        let candidates = rows
            .into_iter()
            .map(Candidate::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((candidates, path))
    }

    /// The plan Postgres would use for `q`'s search (`EXPLAIN`, not executed), and which path
    /// the store would take first. For operators and tests: the index path must show
    /// `messages_embedding_hnsw_idx`.
    pub async fn explain_search(
        &self,
        q: &CandidateQuery,
    ) -> Result<(SearchPath, String), PgStoreError> {
        #[derive(diesel::QueryableByName)]
        struct PlanLine {
            #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
            line: String,
        }
        self.check_dimension(&q.embedding)?;
        let vector = Vector::from(q.embedding.as_slice().to_vec());
        let config = &self.inner.config;
        let (ef, max_scan) = (config.hnsw_ef_search, config.hnsw_max_scan_tuples);
        self.with_conn("explain search", async |conn| {
            let (path, lines): (SearchPath, Vec<PlanLine>) = if self.scope_is_large(conn, q).await?
            {
                let vector = &vector;
                let lines = conn
                    .transaction::<_, PgStoreError, _>(async |conn| {
                        search::ann_settings(ef, max_scan).execute(conn).await?;
                        Ok(search::ann(q, vector, true).load(conn).await?)
                    })
                    .await?;
                (SearchPath::Index, lines)
            } else {
                (
                    SearchPath::Exact,
                    search::exact(q, &vector, true).load(conn).await?,
                )
            };
            let plan: Vec<String> = lines.into_iter().map(|l| l.line).collect();
            Ok((path, plan.join("\n")))
        })
        .await
    }

    async fn insert_message(&self, m: &Message) -> Result<(), PgStoreError> {
        if let Some(e) = &m.embedding {
            self.check_dimension(e)?;
        }
        let row = NewMessageRow::from_message(m);
        let archived = m.archived;
        let id = m.id.as_uuid();
        self.with_conn("insert", async |conn| {
            if !archived {
                diesel::insert_into(messages::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                return Ok(());
            }
            conn.transaction::<_, PgStoreError, _>(async |conn| {
                diesel::insert_into(messages::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                diesel::sql_query(format!(
                    "INSERT INTO archived_messages ({COPY_COLUMNS}, archived_at) \
                             SELECT {COPY_COLUMNS}, archived_at FROM messages WHERE id = $1"
                ))
                .bind::<diesel::sql_types::Uuid, _>(id)
                .execute(conn)
                .await?;
                Ok(())
            })
            .await
        })
        .await
        .map_err(|e| match e {
            PgStoreError::Conflict(_) => PgStoreError::Conflict(format!("message {id} exists")),
            other => other,
        })
    }

    /// Runs a retention statement batch after batch until a batch comes back short.
    async fn batched(
        &self,
        what: &'static str,
        sql: &'static str,
        tenant: &str,
        cutoff: DateTime<Utc>,
        extra: Option<(f64, DateTime<Utc>)>,
    ) -> Result<u64, PgStoreError> {
        let mut total = 0u64;
        loop {
            let n = self
                .with_conn(what, async |conn| {
                    let mut q = diesel::sql_query(sql)
                        .into_boxed()
                        .bind::<Text, _>(tenant)
                        .bind::<Timestamptz, _>(cutoff);
                    if let Some((importance, now)) = extra {
                        q = q.bind::<Double, _>(importance).bind::<Timestamptz, _>(now);
                    }
                    let row: CountRow = q
                        .bind::<BigInt, _>(RETENTION_BATCH)
                        .get_result(conn)
                        .await?;
                    Ok(row.n)
                })
                .await?;
            total += u64::try_from(n).unwrap_or(0);
            if n < RETENTION_BATCH {
                return Ok(total);
            }
        }
    }

    async fn count(
        &self,
        what: &'static str,
        sql: &'static str,
        tenant: &str,
        cutoff: DateTime<Utc>,
        importance: Option<f64>,
    ) -> Result<u64, PgStoreError> {
        let n = self
            .with_conn(what, async |conn| {
                let mut q = diesel::sql_query(sql)
                    .into_boxed()
                    .bind::<Text, _>(tenant)
                    .bind::<Timestamptz, _>(cutoff);
                if let Some(importance) = importance {
                    q = q.bind::<Double, _>(importance);
                }
                let row: CountRow = q.get_result(conn).await?;
                Ok(row.n)
            })
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// The columns a message and its archive copy share.
const COPY_COLUMNS: &str = "id, tenant_id, conversation_id, role, content, metadata, \
     importance_score, embedding, embedding_status, created_at, updated_at";

/// ArchiveRule::matches in SQL: not archived, and created before $2 or importance below $3.
const ARCHIVE_COUNT_SQL: &str = "SELECT count(*) AS n FROM messages \
     WHERE tenant_id = $1 AND NOT archived AND (created_at < $2 OR importance_score < $3)";

/// One batch of archiving: mark up to $5 matching messages archived at $4 and copy them to
/// archived_messages. The outer WHERE re-checks the rule, so a concurrent run cannot count a
/// message twice.
const ARCHIVE_BATCH_SQL: &str = "WITH moved AS ( \
       UPDATE messages SET archived = true, archived_at = $4, updated_at = $4 \
       WHERE id IN (SELECT id FROM messages WHERE tenant_id = $1 AND NOT archived \
                    AND (created_at < $2 OR importance_score < $3) LIMIT $5) \
         AND tenant_id = $1 AND NOT archived AND (created_at < $2 OR importance_score < $3) \
       RETURNING id, tenant_id, conversation_id, role, content, metadata, importance_score, \
                 embedding, embedding_status, created_at, updated_at, archived_at), \
     copied AS ( \
       INSERT INTO archived_messages (id, tenant_id, conversation_id, role, content, metadata, \
                 importance_score, embedding, embedding_status, created_at, updated_at, archived_at) \
       SELECT * FROM moved \
       ON CONFLICT (id) DO UPDATE SET archived_at = EXCLUDED.archived_at, \
                 updated_at = EXCLUDED.updated_at \
       RETURNING 1) \
     SELECT count(*) AS n FROM moved";

const PURGE_COUNT_SQL: &str = "SELECT count(*) AS n FROM archived_messages a \
     JOIN messages m ON m.id = a.id AND m.tenant_id = $1 \
     WHERE a.tenant_id = $1 AND a.archived_at < $2";

/// One batch of purging: delete up to $3 messages archived before $2; the foreign key's
/// ON DELETE CASCADE deletes their archive copies.
const PURGE_BATCH_SQL: &str = "WITH doomed AS ( \
       SELECT id FROM archived_messages WHERE tenant_id = $1 AND archived_at < $2 LIMIT $3), \
     gone AS ( \
       DELETE FROM messages m USING doomed d WHERE m.id = d.id AND m.tenant_id = $1 \
       RETURNING 1) \
     SELECT count(*) AS n FROM gone";

const PENDING_SQL: &str = "SELECT id, tenant_id, conversation_id, role, content, metadata, \
     importance_score, embedding, embedding_status, archived, created_at, updated_at \
     FROM messages WHERE NOT archived AND embedding_status <> 'completed' \
     ORDER BY created_at, id LIMIT $1";

/// Distinct tenants by a loose index scan of messages_tenant_created_idx: one index probe per
/// tenant instead of reading every row.
const TENANTS_SQL: &str = "WITH RECURSIVE t(tenant_id) AS ( \
       (SELECT tenant_id FROM messages ORDER BY tenant_id LIMIT 1) \
       UNION ALL \
       SELECT (SELECT m.tenant_id FROM messages m WHERE m.tenant_id > t.tenant_id \
               ORDER BY m.tenant_id LIMIT 1) \
       FROM t WHERE t.tenant_id IS NOT NULL) \
     SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL";

#[async_trait]
impl MessageRepository for PostgresStore {
    async fn insert(&self, message: &Message) -> Result<(), RepositoryError> {
        Ok(self.insert_message(message).await?)
    }

    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        let row: Option<MessageRow> = self
            .with_conn("get", async |conn| {
                Ok(messages::table
                    .find(id.as_uuid())
                    .select(MessageRow::as_select())
                    .first(conn)
                    .await
                    .optional()?)
            })
            .await?;
        Ok(row.map(Message::try_from).transpose()?)
    }

    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let (embedding, status) = match &update {
            EmbeddingUpdate::Completed(e) => {
                self.check_dimension(e)?;
                (Some(Vector::from(e.as_slice().to_vec())), "completed")
            }
            // The CHECK constraint: only a completed message has an embedding.
            EmbeddingUpdate::Failed => (None, "failed"),
        };
        let n = self
            .with_conn("set_embedding", async |conn| {
                Ok(diesel::update(messages::table.find(id.as_uuid()))
                    .set((
                        messages::embedding.eq(embedding),
                        messages::embedding_status.eq(status),
                        messages::updated_at.eq(at),
                    ))
                    .execute(conn)
                    .await?)
            })
            .await?;
        Ok(n > 0)
    }

    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        Ok(self.search_with_path(query).await?.0)
    }

    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let importance = rule.importance_below.value();
        let n = if dry_run {
            self.count(
                "archive (dry run)",
                ARCHIVE_COUNT_SQL,
                tenant.as_str(),
                rule.created_before,
                Some(importance),
            )
            .await?
        } else {
            self.batched(
                "archive",
                ARCHIVE_BATCH_SQL,
                tenant.as_str(),
                rule.created_before,
                Some((importance, now)),
            )
            .await?
        };
        Ok(n)
    }

    async fn purge_archived(
        &self,
        tenant: &TenantId,
        archived_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let n = if dry_run {
            self.count(
                "purge (dry run)",
                PURGE_COUNT_SQL,
                tenant.as_str(),
                archived_before,
                None,
            )
            .await?
        } else {
            self.batched(
                "purge",
                PURGE_BATCH_SQL,
                tenant.as_str(),
                archived_before,
                None,
            )
            .await?
        };
        Ok(n)
    }

    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<MessageRow> = self
            .with_conn("pending_embeddings", async |conn| {
                Ok(diesel::sql_query(PENDING_SQL)
                    .bind::<BigInt, _>(limit)
                    .load(conn)
                    .await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        let rows: Vec<TenantRow> = self
            .with_conn("list_tenants", async |conn| {
                Ok(diesel::sql_query(TENANTS_SQL).load(conn).await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                TenantId::parse(r.tenant_id.clone())
                    .map_err(|e| PgStoreError::Corrupt(format!("tenant {:?}: {e}", r.tenant_id)))
            })
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn health(&self) -> Result<(), RepositoryError> {
        self.with_conn("health", async |conn| {
            diesel::sql_query("SELECT 1").execute(conn).await?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn lexical_candidates(
        &self,
        query: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        Ok(self.lexical(query).await?)
    }

    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        Ok(self.pending_count(tenant, conversation).await?)
    }

    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError> {
        Ok(self.erase(tenant, Some(conversation)).await?)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        Ok(self.erase(tenant, None).await?)
    }

    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        Ok(self.timeline(tenant, conversation, limit).await?)
    }
}

#[async_trait]
impl RetentionPolicyStore for PostgresStore {
    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError> {
        let tenant = tenant.as_str();
        let row: Option<PolicyRow> = self
            .with_conn("get_policy", async |conn| {
                Ok(retention_policies::table
                    .find(tenant)
                    .select(PolicyRow::as_select())
                    .first(conn)
                    .await
                    .optional()?)
            })
            .await?;
        Ok(row.map(RetentionPolicy::try_from).transpose()?)
    }

    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<(), RepositoryError> {
        let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
        let row = PolicyRow {
            tenant_id: tenant.as_str().to_owned(),
            max_age_days: days(policy.max_age_days),
            importance_threshold: policy.importance_threshold.value(),
            delete_after_days: days(policy.delete_after_days),
            updated_at: Utc::now(),
        };
        self.with_conn("put_policy", async |conn| {
            diesel::insert_into(retention_policies::table)
                .values(&row)
                .on_conflict(retention_policies::tenant_id)
                .do_update()
                .set((
                    retention_policies::max_age_days.eq(row.max_age_days),
                    retention_policies::importance_threshold.eq(row.importance_threshold),
                    retention_policies::delete_after_days.eq(row.delete_after_days),
                    retention_policies::updated_at.eq(row.updated_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}
