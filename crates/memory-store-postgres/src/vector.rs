//! [`VectorSearch`]: an exact scan for small scopes, the HNSW index with an iterative scan for
//! large ones (see `docs/storage-postgres.md` for why), and the cache of which scopes are large.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use memory_core::error::RepositoryError;
use memory_core::ports::{Candidate, CandidateQuery, VectorSearch};
use pgvector::Vector;

use crate::error::PgStoreError;
use crate::open::PostgresStore;
use crate::rows::{CountRow, SearchRow};
use crate::scope::{Query, Scope};

/// How a search was (or would be) answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPath {
    /// An exact scan of the scope through the btree.
    Exact,
    /// The HNSW index with an iterative scan.
    Index,
}

/// What `messages_embedding_hnsw_idx` orders by, read from its definition once per store:
/// a half-precision copy of the vector (`embedding::halfvec(N)`, the migrations' index since
/// 2026-12-07) or the column itself (an index an operator built the older way). The index
/// search must order by the same expression, or the planner cannot use the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnnKey {
    /// `embedding vector_cosine_ops`.
    Vector,
    /// `(embedding::halfvec(dimension)) halfvec_cosine_ops`.
    Half(usize),
}

impl AnnKey {
    /// The key of the index `indexdef` defines (from `pg_indexes`).
    pub(crate) fn of_index(indexdef: &str, dimension: usize) -> Self {
        if indexdef.contains("halfvec_cosine_ops") {
            Self::Half(dimension)
        } else {
            Self::Vector
        }
    }

    /// The ORDER BY expression that lets the planner use the index (`$1`: the query vector).
    fn order_by(self) -> String {
        match self {
            Self::Vector => "embedding <=> $1".to_owned(),
            Self::Half(d) => format!("embedding::halfvec({d}) <=> $1::halfvec({d})"),
        }
    }
}

/// The store's [`AnnKey`], once read.
pub(crate) type AnnKeyCell = OnceLock<AnnKey>;

/// Most scopes whose size class is remembered; the cache is cleared when it would grow past.
const SCOPE_CACHE_MAX: usize = 100_000;

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

/// Each scope's size class (large: at least `exact_scan_threshold` searchable rows) and
/// when it was counted, so most searches skip the capped count.
#[derive(Default)]
pub(crate) struct ScopeSizes(Mutex<HashMap<ScopeKey, (bool, Instant)>>);

impl ScopeSizes {
    fn lock(&self) -> MutexGuard<'_, HashMap<ScopeKey, (bool, Instant)>> {
        // The map holds no invariant a panic could break: recover from poisoning.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The columns a search returns: everything but the embedding (the ranker does not need it).
const SEARCH_COLUMNS: &str = "id, tenant_id, conversation_id, role, content, metadata, \
     importance_score, importance_override, embedding_status, archived, created_at, updated_at";

fn scope_of(q: &CandidateQuery) -> Scope<'_> {
    Scope {
        tenant: &q.tenant_id,
        conversation: q.conversation_id.as_ref(),
        importance_min: q.importance_min,
        filters: Some(&q.filters).filter(|f| !f.is_empty()),
    }
}

/// The rows a vector search sees: embedded, not archived.
pub(crate) const SEARCHABLE: &str = "NOT archived AND embedding_status = 'completed'";
/// The searchable rows in the HNSW index (its predicate, `messages_embedding_hnsw_idx`).
const INDEXED: &str = "NOT archived AND embedding_status = 'completed' AND in_hnsw";
/// The searchable rows not in it (`messages_unindexed_idx`): rows of small tenants, and of a
/// large one not yet promoted ([`crate::large`]).
pub(crate) const UNINDEXED: &str =
    "NOT archived AND embedding_status = 'completed' AND NOT in_hnsw";

/// The scope of a vector search over the rows `fixed` admits.
fn scope_where(q: &CandidateQuery, first: usize, fixed: &str) -> (String, usize) {
    scope_of(q).where_clause(first, fixed)
}

fn explain_prefix(explain: bool) -> &'static str {
    if explain { "EXPLAIN " } else { "" }
}

fn limit_of(q: &CandidateQuery) -> i64 {
    i64::try_from(q.limit).unwrap_or(i64::MAX)
}

/// How many searchable rows the scope has, counting at most `cap` (an index-only scan of
/// `messages_search_scope_idx`, so its cost is bounded by `cap`).
fn capped_count(q: &CandidateQuery, cap: u64) -> Query<'_> {
    let (filter, next) = scope_where(q, 1, SEARCHABLE);
    let sql = format!(
        "SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE {filter} LIMIT ${next}) s"
    );
    scope_of(q)
        .bind(diesel::sql_query(sql).into_boxed())
        .bind::<BigInt, _>(i64::try_from(cap).unwrap_or(i64::MAX))
}

/// The exact `limit` nearest neighbours. `OFFSET 0` keeps the subquery from being flattened,
/// so the ORDER BY cannot be served by the HNSW index (which would lose filtered rows): the
/// planner reads the scope through the btree and keeps the top `limit` by exact distance.
fn exact<'a>(q: &'a CandidateQuery, vector: &'a Vector, explain: bool) -> Query<'a> {
    let (filter, next) = scope_where(q, 2, SEARCHABLE);
    let sql = format!(
        "{}SELECT * FROM (SELECT {SEARCH_COLUMNS}, embedding <=> $1 AS distance FROM messages \
         WHERE {filter} OFFSET 0) s ORDER BY distance, id LIMIT ${next}",
        explain_prefix(explain)
    );
    let query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<pgvector::sql_types::Vector, _>(vector);
    scope_of(q).bind(query).bind::<BigInt, _>(limit_of(q))
}

/// The approximate `limit` nearest neighbours of a large scope (run inside a transaction that
/// set `hnsw.iterative_scan = relaxed_order`): the HNSW index's nearest among its rows, and
/// the exact nearest among the scope's rows it does not hold (a tenant not yet promoted, or
/// rows written while it was), merged by exact distance. The second half reads
/// `messages_unindexed_idx`, which holds few of a large tenant's rows once it is promoted.
/// Both halves use the same parameters. The index orders by `key` (half precision, for the
/// migrations' index); the merge, like the exact path, by the exact distance.
fn ann<'a>(q: &'a CandidateQuery, vector: &'a Vector, key: AnnKey, explain: bool) -> Query<'a> {
    let (indexed, next) = scope_where(q, 2, INDEXED);
    let (unindexed, _) = scope_where(q, 2, UNINDEXED);
    let order = key.order_by();
    let sql = format!(
        "{}WITH nearest AS MATERIALIZED (SELECT {SEARCH_COLUMNS}, embedding <=> $1 AS distance \
         FROM messages WHERE {indexed} ORDER BY {order} LIMIT ${next}), \
         rest AS MATERIALIZED (SELECT {SEARCH_COLUMNS}, embedding <=> $1 AS distance \
         FROM messages WHERE {unindexed} ORDER BY distance LIMIT ${next}) \
         SELECT * FROM nearest UNION ALL SELECT * FROM rest ORDER BY distance, id LIMIT ${next}",
        explain_prefix(explain)
    );
    let query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<pgvector::sql_types::Vector, _>(vector);
    scope_of(q).bind(query).bind::<BigInt, _>(limit_of(q))
}

/// The transaction-local settings of an index search.
fn ann_settings(ef_search: u32, max_scan_tuples: u32) -> Query<'static> {
    diesel::sql_query(
        "SELECT set_config('hnsw.ef_search', $1, true), \
         set_config('hnsw.iterative_scan', 'relaxed_order', true), \
         set_config('hnsw.max_scan_tuples', $2, true)",
    )
    .into_boxed()
    .bind::<Text, _>(ef_search.to_string())
    .bind::<Text, _>(max_scan_tuples.to_string())
}

impl PostgresStore {
    /// What the HNSW index orders by (read once: rebuilding the index another way needs a
    /// restart of the store).
    async fn ann_key(&self, conn: &mut AsyncPgConnection) -> Result<AnnKey, PgStoreError> {
        #[derive(diesel::QueryableByName)]
        struct IndexDef {
            #[diesel(sql_type = Text)]
            indexdef: String,
        }
        if let Some(&key) = self.ann_key_cell().get() {
            return Ok(key);
        }
        let def: Vec<IndexDef> = diesel::sql_query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname = 'messages_embedding_hnsw_idx'",
        )
        .load(conn)
        .await?;
        let Some(def) = <[IndexDef]>::first(&def) else {
            // No index (dropped for a bulk load, say): nothing to match; asked again next time.
            return Ok(AnnKey::Vector);
        };
        let key = AnnKey::of_index(&def.indexdef, self.config().dimension);
        Ok(*self.ann_key_cell().get_or_init(|| key))
    }

    /// Whether `q`'s scope is large enough for the index (cached for `scope_size_cache_ttl`).
    async fn scope_is_large(
        &self,
        conn: &mut AsyncPgConnection,
        q: &CandidateQuery,
    ) -> Result<bool, PgStoreError> {
        let config = self.config();
        match config.exact_scan_threshold {
            0 => return Ok(true),
            u64::MAX => return Ok(false),
            _ => {}
        }
        let key = ScopeKey::of(q);
        if let Some(&(large, at)) = self.scope_sizes().lock().get(&key)
            && at.elapsed() < config.scope_size_cache_ttl
        {
            return Ok(large);
        }
        let count: CountRow = capped_count(q, config.exact_scan_threshold)
            .get_result(conn)
            .await?;
        let large = u64::try_from(count.n).unwrap_or(0) >= config.exact_scan_threshold;
        let mut cache = self.scope_sizes().lock();
        if cache.len() >= SCOPE_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (large, Instant::now()));
        Ok(large)
    }

    /// Forgets every scope's remembered size class (tests, or after a bulk import).
    pub fn clear_scope_cache(&self) {
        self.scope_sizes().lock().clear();
    }

    /// Searches like [`VectorSearch::search_candidates`] and tells which path answered.
    pub async fn search_with_path(
        &self,
        q: &CandidateQuery,
    ) -> Result<(Vec<Candidate>, SearchPath), RepositoryError> {
        q.embedding.check_dimension(self.config().dimension)?;
        if q.limit == 0 {
            return Ok((Vec::new(), SearchPath::Exact));
        }
        let vector = Vector::from(q.embedding.as_slice().to_vec());
        let config = self.config();
        let ef = config
            .hnsw_ef_search
            .max(u32::try_from(q.limit).unwrap_or(u32::MAX))
            .min(1_000);
        let max_scan = config.hnsw_max_scan_tuples;
        let (rows, path) = self
            .with_conn("search", async |conn| {
                // A filtered search scans exactly what its filters admit in the scope: an
                // index search would drop the rows its filters reject after the limit.
                if q.filters.is_empty() && self.scope_is_large(conn, q).await? {
                    let vector = &vector;
                    let key = self.ann_key(conn).await?;
                    let rows: Vec<SearchRow> = conn
                        .transaction::<_, PgStoreError, _>(async |conn| {
                            ann_settings(ef, max_scan).execute(conn).await?;
                            Ok(ann(q, vector, key, false).load(conn).await?)
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
                let rows: Vec<SearchRow> = exact(q, &vector, false).load(conn).await?;
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
    ) -> Result<(SearchPath, String), RepositoryError> {
        #[derive(diesel::QueryableByName)]
        struct PlanLine {
            #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
            line: String,
        }
        q.embedding.check_dimension(self.config().dimension)?;
        let vector = Vector::from(q.embedding.as_slice().to_vec());
        let config = self.config();
        let (ef, max_scan) = (config.hnsw_ef_search, config.hnsw_max_scan_tuples);
        Ok(self
            .with_conn("explain search", async |conn| {
                let (path, lines): (SearchPath, Vec<PlanLine>) =
                    // A filtered search scans exactly what its filters admit in the scope: an
                // index search would drop the rows its filters reject after the limit.
                if q.filters.is_empty() && self.scope_is_large(conn, q).await? {
                        let vector = &vector;
                        let key = self.ann_key(conn).await?;
                        let lines = conn
                            .transaction::<_, PgStoreError, _>(async |conn| {
                                ann_settings(ef, max_scan).execute(conn).await?;
                                Ok(ann(q, vector, key, true).load(conn).await?)
                            })
                            .await?;
                        (SearchPath::Index, lines)
                    } else {
                        (SearchPath::Exact, exact(q, &vector, true).load(conn).await?)
                    };
                let plan: Vec<String> = lines.into_iter().map(|l| l.line).collect();
                Ok((path, plan.join("\n")))
            })
            .await?)
    }
}

#[async_trait]
impl VectorSearch for PostgresStore {
    fn dimension(&self) -> usize {
        self.config().dimension
    }

    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        Ok(self.search_with_path(query).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::AnnKey;

    #[test]
    fn the_index_search_orders_by_what_the_index_holds() {
        let half = "CREATE INDEX messages_embedding_hnsw_idx ON public.messages USING hnsw \
                    (((embedding)::halfvec(384)) halfvec_cosine_ops) WITH (m='24', \
                    ef_construction='128') WHERE ((NOT archived) AND in_hnsw)";
        let full = "CREATE INDEX messages_embedding_hnsw_idx ON public.messages USING hnsw \
                    (embedding vector_cosine_ops) WITH (m='16', ef_construction='64') \
                    WHERE ((NOT archived) AND in_hnsw)";
        assert_eq!(AnnKey::of_index(half, 384), AnnKey::Half(384));
        assert_eq!(AnnKey::of_index(full, 384), AnnKey::Vector);
        assert_eq!(
            AnnKey::Half(384).order_by(),
            "embedding::halfvec(384) <=> $1::halfvec(384)"
        );
        assert_eq!(AnnKey::Vector.order_by(), "embedding <=> $1");
    }
}
