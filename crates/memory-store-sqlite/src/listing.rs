//! [`Listing`]: keyset pages over `messages_tenant_list (tenant_id, created_at, id)`.

use async_trait::async_trait;
use diesel::dsl::sql as sql_fragment;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Bool, Text};
use memory_core::domain::{ConversationId, ConversationSummary, Message, SortOrder};
use memory_core::error::RepositoryError;
use memory_core::ports::{ConversationQuery, ListQuery, Listing};

use crate::error::SqliteStoreError;
use crate::open::{SqliteStore, id_bytes, limit_i64};
use crate::rows::{MessageRow, decode_embedding, from_micros, to_micros};
use crate::schema::messages;

fn list_blocking(
    c: &mut SqliteConnection,
    dim: usize,
    q: &ListQuery,
) -> Result<Vec<Message>, SqliteStoreError> {
    let mut sql = messages::table
        .filter(messages::tenant_id.eq(q.tenant_id.as_str()))
        .into_boxed();
    if let Some(conversation) = &q.conversation_id {
        sql = sql.filter(messages::conversation_id.eq(conversation.as_str()));
    }
    if let Some(role) = q.role {
        sql = sql.filter(messages::role.eq(role.as_str()));
    }
    if let Some(archived) = q.archived {
        sql = sql.filter(messages::archived.eq(archived));
    }
    if let Some(t) = q.created_after {
        sql = sql.filter(messages::created_at.ge(to_micros(t)));
    }
    if let Some(t) = q.created_before {
        sql = sql.filter(messages::created_at.lt(to_micros(t)));
    }
    if let Some(p) = q.after {
        // A row value: the index range starts at the position, instead of the tenant's first
        // row (an OR of the two columns would filter every earlier row, page after page).
        let op = match q.order {
            SortOrder::Asc => ">",
            SortOrder::Desc => "<",
        };
        sql = sql.filter(
            sql_fragment::<Bool>(&format!("(created_at, id) {op} ("))
                .bind::<BigInt, _>(to_micros(p.created_at))
                .sql(", ")
                .bind::<Binary, _>(id_bytes(p.id))
                .sql(")"),
        );
    }
    sql = match q.order {
        SortOrder::Asc => sql.order((messages::created_at.asc(), messages::id.asc())),
        SortOrder::Desc => sql.order((messages::created_at.desc(), messages::id.desc())),
    };
    let rows = sql
        .limit(limit_i64(q.limit))
        .select((MessageRow::as_select(), messages::embedding))
        .load::<(MessageRow, Option<Vec<u8>>)>(c)?;
    rows.into_iter()
        .map(|(row, embedding)| {
            let embedding = match embedding {
                Some(b) if q.with_embeddings => Some(decode_embedding(&b, dim)?),
                _ => None,
            };
            row.into_message(embedding)
        })
        .collect()
}

#[derive(QueryableByName)]
struct ConversationRow {
    #[diesel(sql_type = Text)]
    conversation_id: String,
    #[diesel(sql_type = BigInt)]
    messages: i64,
    #[diesel(sql_type = BigInt)]
    archived: i64,
    #[diesel(sql_type = BigInt)]
    first_at: i64,
    #[diesel(sql_type = BigInt)]
    last_at: i64,
}

/// One group per conversation over `messages_tenant_conversation (tenant_id, conversation_id)`;
/// the cost grows with the tenant's messages.
fn conversations_blocking(
    c: &mut SqliteConnection,
    q: &ConversationQuery,
) -> Result<Vec<ConversationSummary>, SqliteStoreError> {
    let having = if q.before.is_some() {
        "HAVING (MAX(created_at), conversation_id) < (?, ?) "
    } else {
        ""
    };
    let sql = format!(
        "SELECT conversation_id, COUNT(*) AS messages, SUM(archived) AS archived, \
         MIN(created_at) AS first_at, MAX(created_at) AS last_at \
         FROM messages WHERE tenant_id = ? GROUP BY conversation_id {having}\
         ORDER BY last_at DESC, conversation_id DESC LIMIT ?"
    );
    let query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(q.tenant_id.as_str());
    let query = match &q.before {
        Some((at, id)) => query
            .bind::<BigInt, _>(to_micros(*at))
            .bind::<Text, _>(id.as_str()),
        None => query,
    };
    let rows = query
        .bind::<BigInt, _>(limit_i64(q.limit))
        .load::<ConversationRow>(c)?;
    rows.into_iter()
        .map(|r| {
            Ok(ConversationSummary {
                conversation_id: ConversationId::parse(&r.conversation_id)
                    .map_err(|e| SqliteStoreError::Corrupt(e.to_string()))?,
                messages: u64::try_from(r.messages).unwrap_or(0),
                archived: u64::try_from(r.archived).unwrap_or(0),
                first_message_at: from_micros(r.first_at)?,
                last_message_at: from_micros(r.last_at)?,
            })
        })
        .collect()
}

#[async_trait]
impl Listing for SqliteStore {
    async fn list(&self, query: &ListQuery) -> Result<Vec<Message>, RepositoryError> {
        let query = query.clone();
        self.read(move |c, inner| list_blocking(c, inner.dim, &query))
            .await
            .map_err(Into::into)
    }

    async fn conversations(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, RepositoryError> {
        let query = query.clone();
        self.read(move |c, _| conversations_blocking(c, &query))
            .await
            .map_err(Into::into)
    }
}
