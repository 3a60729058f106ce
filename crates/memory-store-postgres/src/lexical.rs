//! Lexical search, conversation time lines, pending counts, erasure and the analyzed-text
//! backfill.

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Double, Integer, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use memory_core::domain::{ConversationId, Message, MessageId, TenantId};
use memory_core::ports::{LexicalDocument, LexicalMatches, LexicalQuery};
use memory_core::text::Analyzer;
use uuid::Uuid;

use crate::error::PgStoreError;
use crate::rows::{CountRow, MessageRow};
use crate::search::{Query, Scope};
use crate::store::PostgresStore;

/// The message columns, then the analyzed text.
const LEXICAL_COLUMNS: &str = "id, tenant_id, conversation_id, role, content, metadata, \
     importance_score, embedding, embedding_status, archived, created_at, updated_at, \
     lexical_terms AS terms";

#[derive(QueryableByName)]
struct LexicalRow {
    #[diesel(embed)]
    message: MessageRow,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    terms: Option<String>,
}

#[derive(QueryableByName)]
struct ScopeRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Double)]
    avg_len: f64,
}

#[derive(QueryableByName)]
struct BackfillRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    content: String,
}

/// The scope of a lexical query: every non-archived row, whatever its embedding status.
fn scope_of(q: &LexicalQuery) -> Scope<'_> {
    Scope {
        tenant: &q.tenant_id,
        conversation: q.conversation_id.as_ref(),
        importance_min: q.importance_min,
    }
}

fn scope_where(q: &LexicalQuery, first: usize) -> (String, usize) {
    scope_of(q).where_clause(first, "NOT archived")
}

fn bind_scope<'a>(query: Query<'a>, q: &'a LexicalQuery) -> Query<'a> {
    scope_of(q).bind(query)
}

/// The query terms as a tsquery matching any of them. Analyzer terms are alphanumeric, so
/// quoting each is enough; quotes are doubled anyway.
fn tsquery(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("'{}'", t.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" | ")
}

impl PostgresStore {
    pub(crate) async fn lexical(&self, q: &LexicalQuery) -> Result<LexicalMatches, PgStoreError> {
        let (filter, next) = scope_where(q, 1);
        let stats_sql = format!(
            "SELECT count(*) AS n, coalesce(avg(lexical_length), 0)::float8 AS avg_len \
             FROM messages WHERE {filter}"
        );
        let (match_filter, next2) = scope_where(q, 2);
        let match_sql = format!(
            "SELECT {LEXICAL_COLUMNS} FROM messages WHERE {match_filter} \
             AND lexical_tsv @@ to_tsquery('simple', $1) \
             ORDER BY ts_rank(lexical_tsv, to_tsquery('simple', $1)) DESC, id \
             LIMIT ${next2}"
        );
        let _ = next;
        let tsq = tsquery(&q.terms);
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let with_terms = !q.terms.is_empty();
        let (stats, rows) = self
            .with_conn("lexical_candidates", async |conn| {
                let stats: ScopeRow = bind_scope(diesel::sql_query(stats_sql).into_boxed(), q)
                    .get_result(conn)
                    .await?;
                let rows: Vec<LexicalRow> = if with_terms {
                    bind_scope(
                        diesel::sql_query(match_sql)
                            .into_boxed()
                            .bind::<Text, _>(tsq),
                        q,
                    )
                    .bind::<BigInt, _>(limit)
                    .load(conn)
                    .await?
                } else {
                    Vec::new()
                };
                Ok((stats, rows))
            })
            .await?;
        let documents = rows
            .into_iter()
            .map(|r| {
                Ok(LexicalDocument {
                    message: Message::try_from(r.message)?,
                    terms: r.terms.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, PgStoreError>>()?;
        Ok(LexicalMatches {
            scope_size: u64::try_from(stats.n).unwrap_or(0),
            average_length: stats.avg_len,
            documents,
        })
    }

    /// The ids of a conversation's non-archived messages in time order; `None` above `limit`.
    pub(crate) async fn timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, PgStoreError> {
        use crate::schema::messages::dsl as m;
        use diesel::{ExpressionMethods as _, QueryDsl as _};
        let (tenant, conversation) = (tenant.as_str(), conversation.as_str());
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let ids: Vec<Uuid> = self
            .with_conn("conversation_timeline", async |conn| {
                Ok(m::messages
                    .filter(m::tenant_id.eq(tenant))
                    .filter(m::conversation_id.eq(conversation))
                    .filter(m::archived.eq(false))
                    .order((m::created_at.asc(), m::id.asc()))
                    .select(m::id)
                    .limit(fetch)
                    .load(conn)
                    .await?)
            })
            .await?;
        Ok((ids.len() <= limit).then(|| ids.into_iter().map(MessageId::from_uuid).collect()))
    }

    pub(crate) async fn pending_count(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, PgStoreError> {
        let mut sql = String::from(
            "SELECT count(*) AS n FROM messages WHERE NOT archived AND embedding_status <> 'completed'",
        );
        let mut n = 1;
        if tenant.is_some() {
            sql.push_str(&format!(" AND tenant_id = ${n}"));
            n += 1;
        }
        if conversation.is_some() {
            sql.push_str(&format!(" AND conversation_id = ${n}"));
        }
        let row: CountRow = self
            .with_conn("count_pending", async |conn| {
                let mut q = diesel::sql_query(sql).into_boxed();
                if let Some(t) = &tenant {
                    q = q.bind::<Text, _>(t.as_str());
                }
                if let Some(c) = &conversation {
                    q = q.bind::<Text, _>(c.as_str());
                }
                Ok(q.get_result(conn).await?)
            })
            .await?;
        Ok(u64::try_from(row.n).unwrap_or(0))
    }

    /// Deletes a tenant's conversation, or (`conversation` None) all of the tenant and its
    /// policy. Archived copies go with their messages (ON DELETE CASCADE).
    pub(crate) async fn erase(
        &self,
        tenant: &TenantId,
        conversation: Option<&ConversationId>,
    ) -> Result<u64, PgStoreError> {
        let tenant = tenant.as_str().to_owned();
        let conversation = conversation.map(|c| c.as_str().to_owned());
        self.with_conn("erase", async |conn| {
            conn.transaction::<_, PgStoreError, _>(async |conn| {
                let n = match &conversation {
                    Some(c) => {
                        diesel::sql_query(
                            "DELETE FROM messages WHERE tenant_id = $1 AND conversation_id = $2",
                        )
                        .bind::<Text, _>(&tenant)
                        .bind::<Text, _>(c)
                        .execute(conn)
                        .await?
                    }
                    None => {
                        let n = diesel::sql_query("DELETE FROM messages WHERE tenant_id = $1")
                            .bind::<Text, _>(&tenant)
                            .execute(conn)
                            .await?;
                        diesel::sql_query("DELETE FROM retention_policies WHERE tenant_id = $1")
                            .bind::<Text, _>(&tenant)
                            .execute(conn)
                            .await?;
                        n
                    }
                };
                Ok(n as u64)
            })
            .await
        })
        .await
    }

    /// Analyzes rows written before lexical search existed (`lexical_terms IS NULL`), in
    /// batches. Returns how many rows were filled in.
    pub(crate) async fn backfill_lexical(&self) -> Result<u64, PgStoreError> {
        const BATCH: i64 = 500;
        let analyzer = Analyzer::english();
        let mut total = 0;
        loop {
            let rows: Vec<BackfillRow> = self
                .with_conn("backfill", async |conn| {
                    Ok(diesel::sql_query(
                        "SELECT id, content FROM messages WHERE lexical_terms IS NULL LIMIT $1",
                    )
                    .bind::<BigInt, _>(BATCH)
                    .load(conn)
                    .await?)
                })
                .await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            let analyzed: Vec<Vec<String>> =
                rows.iter().map(|r| analyzer.terms(&r.content)).collect();
            let lengths: Vec<i32> = analyzed
                .iter()
                .map(|t| i32::try_from(t.len()).unwrap_or(i32::MAX))
                .collect();
            let texts: Vec<String> = analyzed.into_iter().map(|t| t.join(" ")).collect();
            self.with_conn("backfill", async |conn| {
                diesel::sql_query(
                    "UPDATE messages m SET lexical_terms = u.t, lexical_length = u.l \
                     FROM unnest($1::uuid[], $2::text[], $3::int[]) AS u(id, t, l) WHERE m.id = u.id",
                )
                .bind::<Array<SqlUuid>, _>(&ids)
                .bind::<Array<Text>, _>(&texts)
                .bind::<Array<Integer>, _>(&lengths)
                .execute(conn)
                .await?;
                Ok(())
            })
            .await?;
            total += rows.len() as u64;
        }
    }
}
