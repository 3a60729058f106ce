//! [`Listing`]: keyset pages over `messages_tenant_list_idx (tenant_id, created_at, id)`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text, Timestamptz, Uuid};
use diesel_async::RunQueryDsl as _;
use memory_core::domain::{ConversationId, ConversationSummary, Message, SortOrder};
use memory_core::error::RepositoryError;
use memory_core::ports::{ConversationQuery, ListQuery, Listing};

use crate::error::PgStoreError;
use crate::open::PostgresStore;
use crate::rows::MessageRow;

/// The SQL of a listing; its parameters are bound in the order they are named here.
fn list_sql(q: &ListQuery) -> String {
    let embedding = if q.with_embeddings {
        "embedding"
    } else {
        "NULL::vector AS embedding"
    };
    let mut sql = format!(
        "SELECT id, tenant_id, conversation_id, role, content, metadata, importance_score, \
         importance_override, {embedding}, embedding_status, archived, created_at, updated_at \
         FROM messages WHERE tenant_id = $1"
    );
    let mut n = 1;
    let mut next = || {
        n += 1;
        n
    };
    if q.conversation_id.is_some() {
        sql.push_str(&format!(" AND conversation_id = ${}", next()));
    }
    if q.role.is_some() {
        sql.push_str(&format!(" AND role = ${}", next()));
    }
    if q.archived.is_some() {
        sql.push_str(&format!(" AND archived = ${}", next()));
    }
    if q.created_after.is_some() {
        sql.push_str(&format!(" AND created_at >= ${}", next()));
    }
    if q.created_before.is_some() {
        sql.push_str(&format!(" AND created_at < ${}", next()));
    }
    let (cmp, dir) = match q.order {
        SortOrder::Asc => (">", "ASC"),
        SortOrder::Desc => ("<", "DESC"),
    };
    if q.after.is_some() {
        let (a, b) = (next(), next());
        // A row comparison: one index range on (created_at, id).
        sql.push_str(&format!(" AND (created_at, id) {cmp} (${a}, ${b})"));
    }
    sql.push_str(&format!(
        " ORDER BY created_at {dir}, id {dir} LIMIT {}",
        i64::try_from(q.limit).unwrap_or(i64::MAX)
    ));
    sql
}

#[derive(QueryableByName)]
struct ConversationRow {
    #[diesel(sql_type = Text)]
    conversation_id: String,
    #[diesel(sql_type = BigInt)]
    messages: i64,
    #[diesel(sql_type = BigInt)]
    archived: i64,
    #[diesel(sql_type = Timestamptz)]
    first_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    last_at: DateTime<Utc>,
}

/// One group per conversation over `messages_tenant_conversation_idx`; the cost grows with
/// the tenant's messages.
fn conversations_sql(q: &ConversationQuery) -> String {
    let having = if q.before.is_some() {
        "HAVING (MAX(created_at), conversation_id) < ($2, $3) "
    } else {
        ""
    };
    format!(
        "SELECT conversation_id, COUNT(*) AS messages, \
         COUNT(*) FILTER (WHERE archived) AS archived, \
         MIN(created_at) AS first_at, MAX(created_at) AS last_at \
         FROM messages WHERE tenant_id = $1 GROUP BY conversation_id {having}\
         ORDER BY last_at DESC, conversation_id DESC LIMIT {}",
        i64::try_from(q.limit).unwrap_or(i64::MAX)
    )
}

#[async_trait]
impl Listing for PostgresStore {
    async fn list(&self, q: &ListQuery) -> Result<Vec<Message>, RepositoryError> {
        let sql = list_sql(q);
        let rows: Vec<MessageRow> = self
            .with_conn("list", async |conn| {
                let mut query = diesel::sql_query(sql)
                    .into_boxed()
                    .bind::<Text, _>(q.tenant_id.as_str());
                if let Some(c) = &q.conversation_id {
                    query = query.bind::<Text, _>(c.as_str());
                }
                if let Some(r) = q.role {
                    query = query.bind::<Text, _>(r.as_str());
                }
                if let Some(a) = q.archived {
                    query = query.bind::<Bool, _>(a);
                }
                if let Some(t) = q.created_after {
                    query = query.bind::<Timestamptz, _>(t);
                }
                if let Some(t) = q.created_before {
                    query = query.bind::<Timestamptz, _>(t);
                }
                if let Some(p) = q.after {
                    query = query
                        .bind::<Timestamptz, _>(p.created_at)
                        .bind::<Uuid, _>(p.id.as_uuid());
                }
                Ok(query.load(conn).await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn conversations(
        &self,
        q: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, RepositoryError> {
        let sql = conversations_sql(q);
        let rows: Vec<ConversationRow> = self
            .with_conn("conversations", async |conn| {
                let mut query = diesel::sql_query(sql)
                    .into_boxed()
                    .bind::<Text, _>(q.tenant_id.as_str());
                if let Some((at, id)) = &q.before {
                    query = query
                        .bind::<Timestamptz, _>(*at)
                        .bind::<Text, _>(id.as_str());
                }
                Ok(query.load(conn).await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let what = format!("conversation {:?}", r.conversation_id);
                Ok(ConversationSummary {
                    conversation_id: ConversationId::parse(r.conversation_id)
                        .map_err(|e| PgStoreError::corrupt(what, e))?,
                    messages: u64::try_from(r.messages).unwrap_or(0),
                    archived: u64::try_from(r.archived).unwrap_or(0),
                    first_message_at: r.first_at,
                    last_message_at: r.last_at,
                })
            })
            .collect::<Result<Vec<_>, PgStoreError>>()?)
    }
}
