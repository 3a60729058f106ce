//! [`VectorSearch`]: exact nearest neighbours, from the in-memory index
//! ([`crate::vector_index`]) or by streaming the tenant's vectors from disk. A query with
//! filters first reads the ids its filters admit (one SQL query, [`crate::filter`]), and the
//! scan skips every other row.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use memory_core::domain::{EmbeddingStatus, MessageId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::{Candidate, CandidateQuery, VectorSearch};

use diesel::sql_types::{Double, Text};
use diesel::sqlite::Sqlite;

use crate::error::SqliteStoreError;
use crate::filter::{bind_all, filters_sql};
use crate::open::{IDS_PER_QUERY, Inner, SqliteStore, WriterGuard, id_bytes, task_error};
use crate::rows::{MessageRow, decode_vector_into, message_id};
use crate::schema::messages;
use crate::tenant_cache::read_lock;
use crate::vector_index::{Filter, Scored, TopK, dot, estimate_bytes, normalise};

impl Inner {
    /// The blocking part of a search. `None` means: the tenant's vectors should be loaded
    /// into the index, which needs the writer (call again with it).
    pub(crate) fn search_blocking(
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
        let allowed = match admitted_ids(&mut *self.readers.get()?, q)? {
            Some(set) if set.is_empty() => return Ok(Some(Vec::new())),
            other => other,
        };
        let mut query = q.embedding.as_slice().to_vec();
        normalise(&mut query);
        let filter = Filter {
            conversation: q.conversation_id.as_ref().map(|c| c.as_str()),
            importance_min: q.importance_min.map(|i| i.value()),
            allowed: allowed.as_ref(),
        };
        let top = read_lock(&index).search(&query, filter, q.limit, self.search_threads);
        let mut conn = self.readers.get()?;
        fetch_candidates(&mut conn, top).map(Some)
    }

    /// Search by streaming the tenant's vectors from disk (no index).
    pub(crate) fn scan_search(
        &self,
        q: &CandidateQuery,
    ) -> Result<Vec<Candidate>, SqliteStoreError> {
        let mut conn = self.readers.get()?;
        let allowed = match admitted_ids(&mut conn, q)? {
            Some(set) if set.is_empty() => return Ok(Vec::new()),
            other => other,
        };
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
            let id = message_id(&id)?;
            if allowed.as_ref().is_some_and(|a| !a.contains(&id)) {
                continue;
            }
            decode_vector_into(&blob, self.dim, &mut buf)?;
            normalise(&mut buf);
            let similarity = dot(&query_vec, &buf).clamp(-1.0, 1.0);
            if top.threshold().is_some_and(|t| similarity < t) {
                continue;
            }
            top.push(Scored { similarity, id });
        }
        fetch_candidates(&mut conn, top.into_sorted())
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    id: Vec<u8>,
}

/// The searchable messages of `q`'s scope that its filters admit, by one query with the
/// filters in SQL; `None` when the query has no filters (everything in scope is admitted).
fn admitted_ids(
    conn: &mut SqliteConnection,
    q: &CandidateQuery,
) -> Result<Option<HashSet<MessageId>>, SqliteStoreError> {
    if q.filters.is_empty() {
        return Ok(None);
    }
    let (filters, binds) = filters_sql(&q.filters, "");
    let mut sql = String::from(
        "SELECT id FROM messages WHERE tenant_id = ? AND archived = 0 \
         AND embedding_status = 'completed'",
    );
    if q.conversation_id.is_some() {
        sql.push_str(" AND conversation_id = ?");
    }
    if q.importance_min.is_some() {
        sql.push_str(" AND importance_score >= ?");
    }
    sql.push_str(&filters);
    let mut query = diesel::sql_query(sql)
        .into_boxed::<Sqlite>()
        .bind::<Text, _>(q.tenant_id.as_str().to_owned());
    if let Some(c) = &q.conversation_id {
        query = query.bind::<Text, _>(c.as_str().to_owned());
    }
    if let Some(min) = q.importance_min {
        query = query.bind::<Double, _>(min.value());
    }
    let rows: Vec<IdRow> = bind_all(query, &binds).load(conn)?;
    rows.iter()
        .map(|r| message_id(&r.id))
        .collect::<Result<HashSet<_>, _>>()
        .map(Some)
}

/// The tenant's searchable messages: non-archived, embedding completed.
pub(crate) fn count_searchable(
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
pub(crate) fn fetch_candidates(
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

#[async_trait]
impl VectorSearch for SqliteStore {
    fn dimension(&self) -> usize {
        self.inner.dim
    }

    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        query.embedding.check_dimension(self.inner.dim)?;
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
}
