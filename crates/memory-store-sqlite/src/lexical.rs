//! [`LexicalSearch`]: the tenant's in-memory postings (`lexical_index.rs`) rank the scope's
//! matches by the core's BM25, within a search's time range too; without them (budget, metadata
//! filters) FTS5 finds every match and the core ranks them. And the analysed-text backfill the
//! service drives.

use std::collections::HashMap;

use async_trait::async_trait;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::sqlite::Sqlite;
use memory_core::domain::{Content, MessageId};
use memory_core::error::RepositoryError;
use memory_core::ports::{
    LexicalDocument, LexicalMatches, LexicalQuery, LexicalSearch, rank_matches,
};
use memory_core::text::AnalyzedText;

use crate::error::SqliteStoreError;
use crate::filter::{bind_all, filters_sql};
use crate::open::{
    IDS_PER_QUERY, Inner, SqliteStore, WriterGuard, id_bytes, limit_i64, task_error,
};
use crate::rows::{MessageRow, decode_embedding, message_id};
use crate::schema::messages;
use crate::tenant_cache::read_lock;

/// The next free `lexical_doc` (call inside the writing transaction).
pub(crate) fn next_lexical_doc(c: &mut SqliteConnection) -> Result<i64, diesel::result::Error> {
    let max: Option<i64> = messages::table
        .select(diesel::dsl::max(messages::lexical_doc))
        .first(c)?;
    Ok(max.unwrap_or(0) + 1)
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
struct Match {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    id: Vec<u8>,
    #[diesel(sql_type = Text)]
    terms: String,
}

#[derive(QueryableByName)]
struct ScopeStats {
    #[diesel(sql_type = BigInt)]
    documents: i64,
    #[diesel(sql_type = BigInt)]
    terms: i64,
}

/// The blocking part of [`LexicalSearch::lexical_candidates`], on one read transaction:
/// FTS5 lists every match of the scope (its scope token restricts it to the tenant or
/// conversation, and it holds no archived message), their analysed terms are read through
/// `lexical_doc`, the core ranks them ([`rank_matches`]), and only the winners' rows are read
/// whole.
fn lexical_blocking(
    conn: &mut SqliteConnection,
    dim: usize,
    q: &LexicalQuery,
) -> Result<LexicalMatches, SqliteStoreError> {
    conn.transaction(|c| {
        let stats = scope_stats(c, q)?;
        let scope_size = u64::try_from(stats.documents).unwrap_or(0);
        let average_length = if stats.documents > 0 {
            stats.terms as f64 / stats.documents as f64
        } else {
            0.0
        };
        let mut out = LexicalMatches {
            scope_size,
            average_length,
            document_frequencies: vec![0; q.terms.len()],
            documents: Vec::new(),
        };
        let Some(fts) = fts_query(q).filter(|_| stats.documents > 0) else {
            return Ok(out);
        };
        // One statement: FTS5 lists the matches, each is looked up by `lexical_doc`. INDEXED
        // BY keeps the planner from serving the lookups with a tenant index instead (which
        // scans the whole tenant once per batch of matches: seconds at 100k messages). The
        // tenant, conversation and archived predicates repeat what the scope token implies.
        let mut sql = String::from(
            "SELECT m.id AS id, coalesce(m.lexical_terms, '') AS terms \
             FROM messages_fts f JOIN messages m INDEXED BY messages_lexical_doc \
             ON m.lexical_doc = f.rowid \
             WHERE messages_fts MATCH ? AND m.tenant_id = ? AND m.archived = 0",
        );
        if q.conversation_id.is_some() {
            sql.push_str(" AND m.conversation_id = ?");
        }
        if q.importance_min.is_some() {
            sql.push_str(" AND m.importance_score >= ?");
        }
        let (filters, filter_binds) = filters_sql(&q.filters, "m.");
        sql.push_str(&filters);
        let mut query = diesel::sql_query(sql)
            .into_boxed::<Sqlite>()
            .bind::<Text, _>(fts)
            .bind::<Text, _>(q.tenant_id.as_str().to_owned());
        if let Some(conv) = &q.conversation_id {
            query = query.bind::<Text, _>(conv.as_str().to_owned());
        }
        if let Some(min) = q.importance_min {
            query = query.bind::<diesel::sql_types::Double, _>(min.value());
        }
        let matches = bind_all(query, &filter_binds)
            .load::<Match>(c)?
            .into_iter()
            .map(|m| Ok((message_id(&m.id)?, m.terms, ())))
            .collect::<Result<Vec<_>, SqliteStoreError>>()?;
        let ranked = rank_matches(q, scope_size, average_length, matches);
        out.document_frequencies = ranked.document_frequencies;
        let best: Vec<MessageId> = ranked.best.into_iter().map(|(id, ())| id).collect();
        // Read in the same transaction as the matches: every winner is there.
        out.documents = read_documents(c, dim, &best)?;
        Ok(out)
    })
}

/// The rows of `best` (with their embeddings and analysed text), in that order; an id whose
/// row is gone (erased since it was ranked) is skipped.
fn read_documents(
    c: &mut SqliteConnection,
    dim: usize,
    best: &[MessageId],
) -> Result<Vec<LexicalDocument>, SqliteStoreError> {
    let mut rows: HashMap<MessageId, LexicalRow> = HashMap::with_capacity(best.len());
    for chunk in best.chunks(IDS_PER_QUERY) {
        let ids: Vec<Vec<u8>> = chunk.iter().map(|id| id_bytes(*id)).collect();
        let found = messages::table
            .filter(messages::id.eq_any(ids))
            .select((
                MessageRow::as_select(),
                messages::embedding,
                messages::lexical_terms,
            ))
            .load::<LexicalRow>(c)?;
        for row in found {
            rows.insert(message_id(&row.0.id)?, row);
        }
    }
    let mut documents = Vec::with_capacity(best.len());
    for id in best {
        let Some((row, embedding, terms)) = rows.remove(id) else {
            continue;
        };
        let embedding = embedding.map(|b| decode_embedding(&b, dim)).transpose()?;
        documents.push(LexicalDocument {
            message: row.into_message(embedding)?,
            terms: terms.unwrap_or_default(),
        });
    }
    Ok(documents)
}

impl Inner {
    /// A lexical search on FTS5 alone (every match read, then ranked by the core).
    fn lexical_fts5(&self, q: &LexicalQuery) -> Result<LexicalMatches, SqliteStoreError> {
        lexical_blocking(&mut *self.readers.get()?, self.dim, q)
    }

    /// A lexical search through the tenant's in-memory index (see `lexical_index.rs`),
    /// loading it first if it is not held. `None`: it has to be loaded, which needs the
    /// writer (call again with it). A tenant too big for the budget is searched in SQLite.
    fn lexical_indexed(
        &self,
        q: &LexicalQuery,
        guard: Option<WriterGuard>,
    ) -> Result<Option<LexicalMatches>, SqliteStoreError> {
        let Some(cache) = &self.lexical else {
            return self.lexical_fts5(q).map(Some);
        };
        let mut guard = guard;
        if let Some(w) = guard.as_mut() {
            self.sync_external(w)?;
        }
        let index = match (cache.get(&q.tenant_id), guard) {
            (Some(index), _) => index,
            (None, None) => return Ok(None),
            (None, Some(mut w)) => match cache.load(&mut w.conn, &q.tenant_id)? {
                Some(index) => index,
                None => {
                    drop(w);
                    return self.lexical_fts5(q).map(Some);
                }
            },
        };
        let found = read_lock(&index).search(q);
        let documents = read_documents(&mut *self.readers.get()?, self.dim, &found.best)?;
        Ok(Some(LexicalMatches {
            scope_size: found.scope_size,
            average_length: found.average_length,
            document_frequencies: found.document_frequencies,
            documents,
        }))
    }
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

/// Rows the backfill reads per call at most (each call is one read).
const UNANALYZED_MAX: usize = 10_000;

#[async_trait]
impl LexicalSearch for SqliteStore {
    async fn lexical_candidates(
        &self,
        query: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        if self.inner.lexical.is_some() && query.filters.metadata.is_none() {
            // Look for other processes' writes when the writer is free; never wait for it
            // here, unless the tenant's index has to be loaded.
            let guard = self.inner.writer.clone().try_lock_owned().ok();
            let (inner, q) = (self.inner.clone(), query.clone());
            let first = tokio::task::spawn_blocking(move || inner.lexical_indexed(&q, guard))
                .await
                .map_err(task_error)??;
            if let Some(found) = first {
                return Ok(found);
            }
            // If the writer stays busy, search in SQLite this time instead of failing.
            if let Ok(guard) = self.inner.lock_writer().await {
                let (inner, q) = (self.inner.clone(), query.clone());
                let loaded =
                    tokio::task::spawn_blocking(move || inner.lexical_indexed(&q, Some(guard)))
                        .await
                        .map_err(task_error)??;
                if let Some(found) = loaded {
                    return Ok(found);
                }
            }
        }
        let q = query.clone();
        self.read(move |c, inner| lexical_blocking(c, inner.dim, &q))
            .await
            .map_err(Into::into)
    }

    async fn unanalyzed(&self, limit: usize) -> Result<Vec<(MessageId, Content)>, RepositoryError> {
        let limit = limit_i64(limit.min(UNANALYZED_MAX));
        self.read(move |c, _| {
            // A seek on NULL in `messages_lexical_doc`.
            let rows: Vec<(Vec<u8>, String)> = messages::table
                .filter(sql::<Bool>("lexical_doc IS NULL"))
                .select((messages::id, messages::content))
                .limit(limit)
                .load(c)?;
            rows.into_iter()
                .map(|(id, content)| {
                    let content = Content::parse(content)
                        .map_err(|e| SqliteStoreError::Corrupt(e.to_string()))?;
                    Ok((message_id(&id)?, content))
                })
                .collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn store_analysis(
        &self,
        analysed: &[(MessageId, AnalyzedText)],
    ) -> Result<u64, RepositoryError> {
        let batch: Vec<(Vec<u8>, String, i64)> = analysed
            .iter()
            .map(|(id, a)| {
                let length = i64::try_from(a.length()).unwrap_or(i64::MAX);
                (id_bytes(*id), a.terms().to_owned(), length)
            })
            .collect();
        self.write(move |w, inner| {
            w.conn
                .immediate_transaction(|c| {
                    // A fresh `lexical_doc` each: the triggers then (re)index the row and update
                    // the scope statistics.
                    let mut updated = 0u64;
                    for (doc, (id, terms, length)) in (next_lexical_doc(c)?..).zip(&batch) {
                        updated += diesel::update(messages::table.find(id))
                            .set((
                                messages::lexical_terms.eq(Some(terms)),
                                messages::lexical_length.eq(Some(length)),
                                messages::lexical_doc.eq(Some(doc)),
                            ))
                            .execute(c)? as u64;
                    }
                    Ok::<_, SqliteStoreError>(updated)
                })
                .inspect(|&updated| {
                    // Rare (a backfill at startup): reload the lexical indexes rather than find
                    // each row's tenant.
                    if updated > 0
                        && let Some(cache) = &inner.lexical
                    {
                        cache.clear();
                    }
                })
        })
        .await
        .map_err(Into::into)
    }
}
