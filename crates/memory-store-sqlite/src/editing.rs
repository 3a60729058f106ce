//! [`Editing`]: update one message (the triggers move it in the full-text index), delete one
//! (its archive copy and history go by ON DELETE CASCADE), read its history.

use async_trait::async_trait;
use diesel::prelude::*;
use memory_core::domain::{
    Actor, Content, EmbeddingStatus, HistoryEntry, IdempotencyRecord, Importance, MessageId,
    Metadata, TenantId,
};
use memory_core::error::RepositoryError;
use memory_core::ports::{Editing, Revision};
use uuid::Uuid;

use crate::error::SqliteStoreError;
use crate::idempotency::put_key;
use crate::open::{SqliteStore, id_bytes};
use crate::rows::{encode_vector, from_micros, message_id, to_micros};
use crate::schema::{archived_messages, message_history, messages};
use crate::tenant_cache::write_lock;

fn json_text(m: &Metadata) -> Result<String, SqliteStoreError> {
    serde_json::to_string(m.as_map())
        .map_err(|e| SqliteStoreError::Corrupt(format!("metadata: {e}")))
}

/// A history row as read back.
type HistoryRow = (
    Vec<u8>,
    Vec<u8>,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    f64,
    f64,
);

fn history_entry(r: HistoryRow) -> Result<HistoryEntry, SqliteStoreError> {
    let corrupt = |e: memory_core::error::FieldError| SqliteStoreError::Corrupt(e.to_string());
    let metadata = |s: &str| -> Result<Metadata, SqliteStoreError> {
        let v: serde_json::Value = serde_json::from_str(s)
            .map_err(|e| SqliteStoreError::Corrupt(format!("metadata: {e}")))?;
        Metadata::parse(v).map_err(corrupt)
    };
    Ok(HistoryEntry {
        id: Uuid::from_slice(&r.0).map_err(|e| SqliteStoreError::Corrupt(e.to_string()))?,
        message_id: message_id(&r.1)?,
        tenant_id: TenantId::parse(r.2).map_err(corrupt)?,
        at: from_micros(r.3)?,
        actor: Actor::parse(r.4).map_err(corrupt)?,
        old_content: Content::parse(r.5).map_err(corrupt)?,
        new_content: Content::parse(r.6).map_err(corrupt)?,
        old_metadata: metadata(&r.7)?,
        new_metadata: metadata(&r.8)?,
        old_importance: Importance::new(r.9).map_err(corrupt)?,
        new_importance: Importance::new(r.10).map_err(corrupt)?,
    })
}

#[async_trait]
impl Editing for SqliteStore {
    async fn update(
        &self,
        revision: &Revision,
        key: Option<IdempotencyRecord>,
    ) -> Result<bool, RepositoryError> {
        if let Some(e) = &revision.record.message.embedding {
            e.check_dimension(self.inner.dim)?;
        }
        let revision = revision.clone();
        self.write(move |w, inner| {
            let m = &revision.record.message;
            let terms = &revision.record.terms;
            let id = id_bytes(m.id);
            let metadata = json_text(&m.metadata)?;
            let embedding = m.embedding.as_ref().map(|e| encode_vector(e.as_slice()));
            let entry = &revision.entry;
            let applied = w.conn.immediate_transaction(|c| {
                let current = messages::table
                    .find(&id)
                    .filter(messages::tenant_id.eq(m.tenant_id.as_str()))
                    .select((messages::updated_at, messages::archived))
                    .first::<(i64, bool)>(c)
                    .optional()?;
                let Some((updated_at, archived)) = current else {
                    return Ok::<_, SqliteStoreError>(None);
                };
                if updated_at != to_micros(revision.expected_updated_at) {
                    return Ok(None);
                }
                if let Some(key) = &key {
                    put_key(c, key)?;
                }
                diesel::update(messages::table.find(&id))
                    .set((
                        messages::content.eq(m.content.as_str()),
                        messages::metadata.eq(&metadata),
                        messages::importance_score.eq(m.importance_score.value()),
                        messages::importance_override.eq(m.importance_override.map(|i| i.value())),
                        messages::embedding.eq(&embedding),
                        messages::embedding_status.eq(m.embedding_status.as_str()),
                        messages::updated_at.eq(to_micros(m.updated_at)),
                        messages::lexical_terms.eq(Some(terms.terms())),
                        messages::lexical_length
                            .eq(Some(i64::try_from(terms.length()).unwrap_or(i64::MAX))),
                    ))
                    .execute(c)?;
                if archived {
                    diesel::update(archived_messages::table.find(&id))
                        .set((
                            archived_messages::content.eq(m.content.as_str()),
                            archived_messages::metadata.eq(&metadata),
                            archived_messages::importance_score.eq(m.importance_score.value()),
                            archived_messages::importance_override
                                .eq(m.importance_override.map(|i| i.value())),
                            archived_messages::embedding.eq(&embedding),
                            archived_messages::embedding_status.eq(m.embedding_status.as_str()),
                            archived_messages::updated_at.eq(to_micros(m.updated_at)),
                        ))
                        .execute(c)?;
                }
                diesel::insert_into(message_history::table)
                    .values((
                        message_history::id.eq(entry.id.as_bytes().to_vec()),
                        message_history::message_id.eq(&id),
                        message_history::tenant_id.eq(entry.tenant_id.as_str()),
                        message_history::at.eq(to_micros(entry.at)),
                        message_history::actor.eq(entry.actor.as_str()),
                        message_history::old_content.eq(entry.old_content.as_str()),
                        message_history::new_content.eq(entry.new_content.as_str()),
                        message_history::old_metadata.eq(json_text(&entry.old_metadata)?),
                        message_history::new_metadata.eq(json_text(&entry.new_metadata)?),
                        message_history::old_importance.eq(entry.old_importance.value()),
                        message_history::new_importance.eq(entry.new_importance.value()),
                    ))
                    .execute(c)?;
                Ok(Some(archived))
            })?;
            let Some(archived) = applied else {
                return Ok(false);
            };
            if let Some(idx) = inner.cache.as_ref().and_then(|c| c.peek(&m.tenant_id)) {
                let mut idx = write_lock(&idx);
                match (&m.embedding, m.embedding_status, archived) {
                    (Some(e), EmbeddingStatus::Completed, false) => idx.upsert(
                        m.id,
                        m.conversation_id.as_str(),
                        m.importance_score.value(),
                        e.as_slice(),
                    ),
                    _ => idx.remove(&m.id),
                }
            }
            if !archived {
                inner.index_terms(m, terms);
            }
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    async fn delete(&self, tenant: &TenantId, id: MessageId) -> Result<bool, RepositoryError> {
        let owner = tenant.clone();
        self.write(move |w, inner| {
            let key = id_bytes(id);
            let tenant = w.conn.immediate_transaction(|c| {
                let tenant = messages::table
                    .find(&key)
                    .filter(messages::tenant_id.eq(owner.as_str()))
                    .select(messages::tenant_id)
                    .first::<String>(c)
                    .optional()?;
                if tenant.is_some() {
                    // The archive copy and the history go with it (ON DELETE CASCADE); the
                    // triggers take it out of the full-text index and the statistics.
                    diesel::delete(messages::table.find(&key)).execute(c)?;
                }
                Ok::<_, SqliteStoreError>(tenant)
            })?;
            let Some(tenant) = tenant else {
                return Ok(false);
            };
            let tenant =
                TenantId::parse(tenant).map_err(|e| SqliteStoreError::Corrupt(e.to_string()))?;
            inner.forget(&tenant, &[key])?;
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: MessageId,
    ) -> Result<Vec<HistoryEntry>, RepositoryError> {
        let tenant = tenant.clone();
        self.read(move |c, _| {
            let rows = message_history::table
                .filter(message_history::tenant_id.eq(tenant.as_str()))
                .filter(message_history::message_id.eq(id_bytes(id)))
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
                .load::<HistoryRow>(c)?;
            rows.into_iter().map(history_entry).collect()
        })
        .await
        .map_err(Into::into)
    }
}
