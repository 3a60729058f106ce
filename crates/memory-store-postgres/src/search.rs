//! The SQL of `search_candidates`: an exact scan for small scopes, the HNSW index with an
//! iterative scan for large ones. See `docs/storage-postgres.md` for why.

use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Double, Text};
use memory_core::domain::{ConversationId, Importance, TenantId};
use memory_core::ports::CandidateQuery;

/// The columns a search returns: everything but the embedding (the ranker does not need it).
const SEARCH_COLUMNS: &str = "id, tenant_id, conversation_id, role, content, metadata, \
     importance_score, embedding_status, archived, created_at, updated_at";

pub(crate) type Query<'a> = BoxedSqlQuery<'a, Pg, SqlQuery>;

/// A query's scope: mandatory tenant, optional conversation and importance floor. Shared by
/// the vector and the lexical queries, which differ only in their fixed predicate.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub tenant: &'a TenantId,
    pub conversation: Option<&'a ConversationId>,
    pub importance_min: Option<Importance>,
}

impl<'a> Scope<'a> {
    /// `tenant_id = $first AND <fixed> [AND conversation_id = ..] [AND importance_score >= ..]`,
    /// and the next free parameter number. `fixed` is literal SQL so that it matches the
    /// partial indexes' predicates (a bind parameter there would hide them from the planner).
    pub(crate) fn where_clause(&self, first: usize, fixed: &str) -> (String, usize) {
        let mut n = first;
        let mut sql = format!("tenant_id = ${n} AND {fixed}");
        n += 1;
        if self.conversation.is_some() {
            sql.push_str(&format!(" AND conversation_id = ${n}"));
            n += 1;
        }
        if self.importance_min.is_some() {
            sql.push_str(&format!(" AND importance_score >= ${n}"));
            n += 1;
        }
        (sql, n)
    }

    /// Binds the parameters of [`Scope::where_clause`], in its order.
    pub(crate) fn bind(&self, mut query: Query<'a>) -> Query<'a> {
        query = query.bind::<Text, _>(self.tenant.as_str());
        if let Some(c) = self.conversation {
            query = query.bind::<Text, _>(c.as_str());
        }
        if let Some(min) = self.importance_min {
            query = query.bind::<Double, _>(min.value());
        }
        query
    }
}

/// The scope of a vector search: only embedded, non-archived rows.
fn scope_where(q: &CandidateQuery, first: usize) -> (String, usize) {
    scope_of(q).where_clause(first, "NOT archived AND embedding_status = 'completed'")
}

fn scope_of(q: &CandidateQuery) -> Scope<'_> {
    Scope {
        tenant: &q.tenant_id,
        conversation: q.conversation_id.as_ref(),
        importance_min: q.importance_min,
    }
}

/// Binds the parameters of [`scope_where`], in its order.
fn bind_scope<'a>(query: Query<'a>, q: &'a CandidateQuery) -> Query<'a> {
    scope_of(q).bind(query)
}

fn explain_prefix(explain: bool) -> &'static str {
    if explain { "EXPLAIN " } else { "" }
}

fn limit_of(q: &CandidateQuery) -> i64 {
    i64::try_from(q.limit).unwrap_or(i64::MAX)
}

/// How many searchable rows the scope has, counting at most `cap` (an index-only scan of
/// `messages_search_scope_idx`, so its cost is bounded by `cap`).
pub(crate) fn capped_count(q: &CandidateQuery, cap: u64) -> Query<'_> {
    let (filter, next) = scope_where(q, 1);
    let sql = format!(
        "SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE {filter} LIMIT ${next}) s"
    );
    bind_scope(diesel::sql_query(sql).into_boxed(), q)
        .bind::<BigInt, _>(i64::try_from(cap).unwrap_or(i64::MAX))
}

/// The exact `limit` nearest neighbours. `OFFSET 0` keeps the subquery from being flattened,
/// so the ORDER BY cannot be served by the HNSW index (which would lose filtered rows): the
/// planner reads the scope through the btree and keeps the top `limit` by exact distance.
pub(crate) fn exact<'a>(
    q: &'a CandidateQuery,
    vector: &'a pgvector::Vector,
    explain: bool,
) -> Query<'a> {
    let (filter, next) = scope_where(q, 2);
    let sql = format!(
        "{}SELECT * FROM (SELECT {SEARCH_COLUMNS}, embedding <=> $1 AS distance FROM messages \
         WHERE {filter} OFFSET 0) s ORDER BY distance, id LIMIT ${next}",
        explain_prefix(explain)
    );
    bind_scope(
        diesel::sql_query(sql)
            .into_boxed()
            .bind::<pgvector::sql_types::Vector, _>(vector),
        q,
    )
    .bind::<BigInt, _>(limit_of(q))
}

/// The approximate `limit` nearest neighbours through the HNSW index (run inside a
/// transaction that set `hnsw.iterative_scan = relaxed_order`), re-sorted by exact distance.
pub(crate) fn ann<'a>(
    q: &'a CandidateQuery,
    vector: &'a pgvector::Vector,
    explain: bool,
) -> Query<'a> {
    let (filter, next) = scope_where(q, 2);
    let sql = format!(
        "{}WITH nearest AS MATERIALIZED (SELECT {SEARCH_COLUMNS}, embedding <=> $1 AS distance \
         FROM messages WHERE {filter} ORDER BY embedding <=> $1 LIMIT ${next}) \
         SELECT * FROM nearest ORDER BY distance, id",
        explain_prefix(explain)
    );
    bind_scope(
        diesel::sql_query(sql)
            .into_boxed()
            .bind::<pgvector::sql_types::Vector, _>(vector),
        q,
    )
    .bind::<BigInt, _>(limit_of(q))
}

/// The transaction-local settings of an index search.
pub(crate) fn ann_settings(ef_search: u32, max_scan_tuples: u32) -> Query<'static> {
    diesel::sql_query(
        "SELECT set_config('hnsw.ef_search', $1, true), \
         set_config('hnsw.iterative_scan', 'relaxed_order', true), \
         set_config('hnsw.max_scan_tuples', $2, true)",
    )
    .into_boxed()
    .bind::<Text, _>(ef_search.to_string())
    .bind::<Text, _>(max_scan_tuples.to_string())
}
