//! [`LexicalSearch`]: matching through the `lexical_tsv` GIN index, ranking by the core's BM25,
//! and the analysed-text backfill of rows written before lexical search.
//!
//! The ranking is the core's, not `ts_rank`: every match of the scope is read (id and terms
//! only), [`rank_matches`] computes the document frequencies and keeps the best `limit`, and
//! only those rows are read in full. All of it runs in one read-only repeatable-read
//! transaction, so the statistics, the matches and the rows are one snapshot.

use std::collections::HashMap;

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Double, Integer, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl as _;
use memory_core::domain::{Content, Message, MessageId};
use memory_core::error::RepositoryError;
use memory_core::ports::{
    LexicalDocument, LexicalMatches, LexicalQuery, LexicalSearch, rank_matches,
};
use memory_core::text::AnalyzedText;
use uuid::Uuid;

use crate::error::PgStoreError;
use crate::open::PostgresStore;
use crate::rows::MessageRow;
use crate::scope::{Query, Scope};

/// The message columns, then the analysed text.
const DOCUMENT_COLUMNS: &str = "id, tenant_id, conversation_id, role, content, metadata, \
     importance_score, importance_override, embedding, embedding_status, archived, created_at, \
     updated_at, coalesce(lexical_terms, '') AS terms";

#[derive(QueryableByName)]
struct DocumentRow {
    #[diesel(embed)]
    message: MessageRow,
    #[diesel(sql_type = Text)]
    terms: String,
}

#[derive(QueryableByName)]
struct MatchRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    terms: String,
}

#[derive(QueryableByName)]
struct ScopeRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Double)]
    avg_len: f64,
}

#[derive(QueryableByName)]
struct UnanalyzedRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    content: String,
}

/// The scope of a lexical query: every non-archived row, whatever its embedding status.
/// The statistics are the whole scope's; only the matches are filtered.
fn scope_of(q: &LexicalQuery, filtered: bool) -> Scope<'_> {
    Scope {
        tenant: &q.tenant_id,
        conversation: q.conversation_id.as_ref(),
        importance_min: q.importance_min,
        filters: Some(&q.filters).filter(|f| filtered && !f.is_empty()),
    }
}

fn scope_where(q: &LexicalQuery, first: usize, filtered: bool) -> (String, usize) {
    scope_of(q, filtered).where_clause(first, "NOT archived")
}

fn bind_scope<'a>(query: Query<'a>, q: &'a LexicalQuery, filtered: bool) -> Query<'a> {
    scope_of(q, filtered).bind(query)
}

/// The query terms as a tsquery matching any of them. The core's terms are alphanumeric, so
/// quoting each is enough; quotes are doubled anyway.
fn tsquery(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("'{}'", t.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Whether the analysed text holds one of the query terms, by the contract's definition
/// (space-separated terms): the index proposes, this decides.
fn contains_any(terms: &str, query: &[String]) -> bool {
    terms
        .split(' ')
        .any(|t| !t.is_empty() && query.iter().any(|q| q == t))
}

/// What one lexical query reads: the scope statistics, the document frequencies and the
/// winners in rank order.
type LexicalRead = (ScopeRow, Vec<u64>, Vec<LexicalDocument>);

#[async_trait]
impl LexicalSearch for PostgresStore {
    async fn lexical_candidates(
        &self,
        q: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        let (filter, _) = scope_where(q, 1, false);
        let stats_sql = format!(
            "SELECT count(*) AS n, coalesce(avg(lexical_length), 0)::float8 AS avg_len \
             FROM messages WHERE {filter}"
        );
        let (match_filter, _) = scope_where(q, 2, true);
        let match_sql = format!(
            "SELECT id, coalesce(lexical_terms, '') AS terms FROM messages \
             WHERE {match_filter} AND lexical_tsv @@ to_tsquery('simple', $1)"
        );
        // The tenant predicate keeps the read inside the tenant whatever the ids.
        let rows_sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM messages WHERE id = ANY($1) AND tenant_id = $2"
        );
        let tsq = tsquery(&q.terms);
        let (stats, document_frequencies, documents) = self
            .with_conn("lexical_candidates", async |conn| {
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run::<LexicalRead, PgStoreError, _>(async |conn| {
                        let stats: ScopeRow =
                            bind_scope(diesel::sql_query(stats_sql).into_boxed(), q, false)
                                .get_result(conn)
                                .await?;
                        if q.terms.is_empty() {
                            return Ok((stats, Vec::new(), Vec::new()));
                        }
                        let matches: Vec<MatchRow> = bind_scope(
                            diesel::sql_query(match_sql)
                                .into_boxed()
                                .bind::<Text, _>(tsq),
                            q,
                            true,
                        )
                        .load(conn)
                        .await?;
                        let matches = matches
                            .into_iter()
                            .filter(|m| contains_any(&m.terms, &q.terms))
                            .map(|m| (MessageId::from_uuid(m.id), m.terms, ()))
                            .collect();
                        let scope_size = u64::try_from(stats.n).unwrap_or(0);
                        let ranked = rank_matches(q, scope_size, stats.avg_len, matches);
                        if ranked.best.is_empty() {
                            return Ok((stats, ranked.document_frequencies, Vec::new()));
                        }
                        let ids: Vec<Uuid> =
                            ranked.best.iter().map(|(id, ())| id.as_uuid()).collect();
                        let rows: Vec<DocumentRow> = diesel::sql_query(rows_sql)
                            .bind::<Array<SqlUuid>, _>(&ids)
                            .bind::<Text, _>(q.tenant_id.as_str())
                            .load(conn)
                            .await?;
                        let mut by_id: HashMap<Uuid, DocumentRow> =
                            rows.into_iter().map(|r| (r.message.id, r)).collect();
                        // Every winner is there: the rows come from the same snapshot.
                        let documents = ids
                            .iter()
                            .filter_map(|id| by_id.remove(id))
                            .map(|r| {
                                Ok(LexicalDocument {
                                    message: Message::try_from(r.message)?,
                                    terms: r.terms,
                                })
                            })
                            .collect::<Result<Vec<_>, PgStoreError>>()?;
                        Ok((stats, ranked.document_frequencies, documents))
                    })
                    .await
            })
            .await?;
        Ok(LexicalMatches {
            scope_size: u64::try_from(stats.n).unwrap_or(0),
            average_length: stats.avg_len,
            document_frequencies,
            documents,
        })
    }

    async fn unanalyzed(&self, limit: usize) -> Result<Vec<(MessageId, Content)>, RepositoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<UnanalyzedRow> = self
            .with_conn("unanalyzed", async |conn| {
                Ok(diesel::sql_query(
                    "SELECT id, content FROM messages WHERE lexical_terms IS NULL \
                     ORDER BY id LIMIT $1",
                )
                .bind::<BigInt, _>(limit)
                .load(conn)
                .await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let content = Content::parse(r.content)
                    .map_err(|e| PgStoreError::corrupt(format!("message {}", r.id), e))?;
                Ok((MessageId::from_uuid(r.id), content))
            })
            .collect::<Result<Vec<_>, PgStoreError>>()?)
    }

    async fn store_analysis(
        &self,
        analysed: &[(MessageId, AnalyzedText)],
    ) -> Result<u64, RepositoryError> {
        if analysed.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = analysed.iter().map(|(id, _)| id.as_uuid()).collect();
        let texts: Vec<&str> = analysed.iter().map(|(_, a)| a.terms()).collect();
        let lengths: Vec<i32> = analysed
            .iter()
            .map(|(_, a)| i32::try_from(a.length()).unwrap_or(i32::MAX))
            .collect();
        // One statement for the batch; lexical_tsv, a generated column, follows.
        let n = self
            .with_conn("store_analysis", async |conn| {
                Ok(diesel::sql_query(
                    "UPDATE messages m SET lexical_terms = u.t, lexical_length = u.l \
                     FROM unnest($1::uuid[], $2::text[], $3::int[]) AS u(id, t, l) \
                     WHERE m.id = u.id",
                )
                .bind::<Array<SqlUuid>, _>(&ids)
                .bind::<Array<Text>, _>(&texts)
                .bind::<Array<Integer>, _>(&lengths)
                .execute(conn)
                .await?)
            })
            .await?;
        Ok(n as u64)
    }
}
