//! [`Editing`]: update one message (the generated tsvector follows the new analysed text),
//! delete one (its archive copy and history go by ON DELETE CASCADE), read its history.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods as _, OptionalExtension as _, QueryDsl as _};
use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use memory_core::domain::{
    Actor, Content, HistoryEntry, IdempotencyRecord, Importance, MessageId, Metadata, TenantId,
};
use memory_core::error::RepositoryError;
use memory_core::ports::{Editing, Revision};
use pgvector::Vector;
use uuid::Uuid;

use crate::error::PgStoreError;
use crate::idempotency::put_key;
use crate::open::PostgresStore;
use crate::schema::{archived_messages, message_history, messages};

/// A history row as read back.
type HistoryRow = (
    Uuid,
    Uuid,
    String,
    DateTime<Utc>,
    String,
    String,
    String,
    serde_json::Value,
    serde_json::Value,
    f64,
    f64,
);

fn history_entry(r: HistoryRow) -> Result<HistoryEntry, PgStoreError> {
    let corrupt = |what: &str| {
        let what = what.to_owned();
        move |e: memory_core::error::FieldError| PgStoreError::corrupt(format!("history {what}"), e)
    };
    Ok(HistoryEntry {
        id: r.0,
        message_id: MessageId::from_uuid(r.1),
        tenant_id: TenantId::parse(r.2).map_err(corrupt("tenant"))?,
        at: r.3,
        actor: Actor::parse(r.4).map_err(corrupt("actor"))?,
        old_content: Content::parse(r.5).map_err(corrupt("content"))?,
        new_content: Content::parse(r.6).map_err(corrupt("content"))?,
        old_metadata: Metadata::parse(r.7).map_err(corrupt("metadata"))?,
        new_metadata: Metadata::parse(r.8).map_err(corrupt("metadata"))?,
        old_importance: Importance::new(r.9).map_err(corrupt("importance"))?,
        new_importance: Importance::new(r.10).map_err(corrupt("importance"))?,
    })
}

#[async_trait]
impl Editing for PostgresStore {
    async fn update(
        &self,
        revision: &Revision,
        key: Option<IdempotencyRecord>,
    ) -> Result<bool, RepositoryError> {
        let m = &revision.record.message;
        if let Some(e) = &m.embedding {
            e.check_dimension(self.config().dimension)?;
        }
        let id = m.id.as_uuid();
        let metadata = m.metadata.to_value();
        let embedding = m
            .embedding
            .as_ref()
            .map(|e| Vector::from(e.as_slice().to_vec()));
        let terms = &revision.record.terms;
        let length = i32::try_from(terms.length()).unwrap_or(i32::MAX);
        let entry = &revision.entry;
        Ok(self
            .with_conn("update", async |conn| {
                conn.transaction::<_, PgStoreError, _>(async |conn| {
                    // The row lock makes the check and the write one step.
                    let current = messages::table
                        .find(id)
                        .filter(messages::tenant_id.eq(m.tenant_id.as_str()))
                        .select((messages::updated_at, messages::archived))
                        .for_update()
                        .first::<(DateTime<Utc>, bool)>(conn)
                        .await
                        .optional()?;
                    let Some((updated_at, archived)) = current else {
                        return Ok(false);
                    };
                    if updated_at != revision.expected_updated_at {
                        return Ok(false);
                    }
                    if let Some(key) = &key {
                        put_key(conn, key).await?;
                    }
                    diesel::update(
                        messages::table
                            .find(id)
                            .filter(messages::tenant_id.eq(m.tenant_id.as_str())),
                    )
                    .set((
                        messages::content.eq(m.content.as_str()),
                        messages::metadata.eq(&metadata),
                        messages::importance_score.eq(m.importance_score.value()),
                        messages::importance_override.eq(m.importance_override.map(|i| i.value())),
                        messages::embedding.eq(&embedding),
                        messages::embedding_status.eq(m.embedding_status.as_str()),
                        messages::updated_at.eq(m.updated_at),
                        messages::lexical_terms.eq(Some(terms.terms())),
                        messages::lexical_length.eq(Some(length)),
                    ))
                    .execute(conn)
                    .await?;
                    if archived {
                        diesel::update(
                            archived_messages::table
                                .find(id)
                                .filter(archived_messages::tenant_id.eq(m.tenant_id.as_str())),
                        )
                        .set((
                            archived_messages::content.eq(m.content.as_str()),
                            archived_messages::metadata.eq(&metadata),
                            archived_messages::importance_score.eq(m.importance_score.value()),
                            archived_messages::importance_override
                                .eq(m.importance_override.map(|i| i.value())),
                            archived_messages::embedding.eq(&embedding),
                            archived_messages::embedding_status.eq(m.embedding_status.as_str()),
                            archived_messages::updated_at.eq(m.updated_at),
                        ))
                        .execute(conn)
                        .await?;
                    }
                    diesel::insert_into(message_history::table)
                        .values((
                            message_history::id.eq(entry.id),
                            message_history::message_id.eq(id),
                            message_history::tenant_id.eq(entry.tenant_id.as_str()),
                            message_history::at.eq(entry.at),
                            message_history::actor.eq(entry.actor.as_str()),
                            message_history::old_content.eq(entry.old_content.as_str()),
                            message_history::new_content.eq(entry.new_content.as_str()),
                            message_history::old_metadata.eq(entry.old_metadata.to_value()),
                            message_history::new_metadata.eq(entry.new_metadata.to_value()),
                            message_history::old_importance.eq(entry.old_importance.value()),
                            message_history::new_importance.eq(entry.new_importance.value()),
                        ))
                        .execute(conn)
                        .await?;
                    Ok(true)
                })
                .await
            })
            .await?)
    }

    async fn delete(&self, tenant: &TenantId, id: MessageId) -> Result<bool, RepositoryError> {
        let n = self
            .with_conn("delete", async |conn| {
                // The archive copy and the history go with it (ON DELETE CASCADE).
                Ok(diesel::delete(
                    messages::table
                        .find(id.as_uuid())
                        .filter(messages::tenant_id.eq(tenant.as_str())),
                )
                .execute(conn)
                .await?)
            })
            .await?;
        Ok(n > 0)
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: MessageId,
    ) -> Result<Vec<HistoryEntry>, RepositoryError> {
        let rows: Vec<HistoryRow> = self
            .with_conn("history", async |conn| {
                Ok(message_history::table
                    .filter(message_history::tenant_id.eq(tenant.as_str()))
                    .filter(message_history::message_id.eq(id.as_uuid()))
                    .order((message_history::at.asc(), message_history::id.asc()))
                    .select((
                        message_history::id,
                        message_history::message_id,
                        message_history::tenant_id,
                        message_history::at,
                        message_history::actor,
                        message_history::old_content,
                        message_history::new_content,
                        message_history::old_metadata,
                        message_history::new_metadata,
                        message_history::old_importance,
                        message_history::new_importance,
                    ))
                    .load(conn)
                    .await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(history_entry)
            .collect::<Result<Vec<_>, _>>()?)
    }
}
