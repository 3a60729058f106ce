//! Editing: update a message (re-embedded when its content changes, every change kept in its
//! history), delete one, read its history.

use uuid::Uuid;

use super::ingest::{embedding_state, single as first};
use super::{MemoryService, truncate_to_micros};
use crate::access::TenantAccess;
use crate::domain::{Actor, HistoryEntry, IdempotencyKey, Message, MessageId, MessagePatch};
use crate::error::{CoreError, RepositoryError, Result};
use crate::ports::{Editing, EmbedPurpose, MessageRecord, Revision};

/// How often an update is recomputed when the message keeps changing under it.
const UPDATE_ATTEMPTS: usize = 3;

impl MemoryService {
    /// Applies a patch to a message and returns the message as stored.
    ///
    /// New content is embedded again (stored `pending` when the embedder cannot take it now)
    /// and re-analysed for lexical search; metadata is replaced or merged; a new
    /// `importance_override` rescores the message as at ingest, dated now. The change and the
    /// values before and after it are appended to the message's history, in the same
    /// transaction. The update applies to the state it was computed from (a concurrent
    /// change makes it recompute, up to three times, then [`CoreError::Conflict`]). With a
    /// key it is idempotent as [`MemoryService::ingest_keyed`] is.
    pub async fn update(
        &self,
        id: MessageId,
        patch: &MessagePatch,
        actor: &Actor,
        key: Option<&IdempotencyKey>,
        access: &TenantAccess,
    ) -> Result<Message> {
        let editing = self.editing()?;
        let mut current = self.get(id, access).await?;
        let tenant = current.tenant_id.clone();
        if let Some(key) = key
            && let Some(items) = self.replay(&tenant, key).await?
        {
            return first(items);
        }
        // Embedded once, whatever the retries: the new content does not change.
        let new_embedding = match patch.content() {
            Some(c) if *c != current.content => {
                let purpose = EmbedPurpose::Ingest(tenant.clone());
                Some(embedding_state(self.embed_one(c.as_str(), &purpose).await))
            }
            _ => None,
        };
        for _ in 0..UPDATE_ATTEMPTS {
            let now = truncate_to_micros(self.clock.now());
            let mut next = current.clone();
            if let Some(content) = patch.content() {
                next.content = content.clone();
            }
            next.metadata = patch.apply_metadata(&current.metadata)?;
            if let Some(explicit) = patch.importance_override {
                next.importance_score =
                    self.scorer.score(next.created_at, now, next.role, explicit);
                next.importance_override = explicit;
            }
            if let Some((embedding, status)) = &new_embedding {
                next.embedding = embedding.clone();
                next.embedding_status = *status;
            }
            next.updated_at = now.max(current.updated_at);
            let entry = HistoryEntry {
                id: Uuid::now_v7(),
                message_id: id,
                tenant_id: tenant.clone(),
                at: now,
                actor: actor.clone(),
                old_content: current.content.clone(),
                new_content: next.content.clone(),
                old_metadata: current.metadata.clone(),
                new_metadata: next.metadata.clone(),
                old_importance: current.importance_score,
                new_importance: next.importance_score,
            };
            if entry.changed_fields().is_empty() {
                // Nothing to change: nothing written, no history entry, updated_at kept.
                current.embedding = None;
                return Ok(current);
            }
            let revision = Revision {
                record: MessageRecord::new(next),
                expected_updated_at: current.updated_at,
                entry,
            };
            let key_record = key.map(|k| self.key_record(&tenant, k, now, &vec![Ok(id)]));
            match self
                .call("update", editing.update(&revision, key_record))
                .await
            {
                Ok(true) => {
                    let mut stored = revision.record.message;
                    stored.embedding = None;
                    return Ok(stored);
                }
                Ok(false) => {
                    current = self.get(id, access).await?;
                }
                Err(RepositoryError::DuplicateKey(_)) if key.is_some() => {
                    return first(self.replay_raced(&tenant, key.expect("checked")).await?);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CoreError::Conflict(format!(
            "message {id} kept changing while it was updated; retry"
        )))
    }

    /// Deletes one message, with its archive copy and its history. Deleting a message that
    /// does not exist (or that the caller may not see) is [`CoreError::NotFound`]: a retry of
    /// a delete that succeeded finds nothing.
    pub async fn delete(&self, id: MessageId, access: &TenantAccess) -> Result<()> {
        let editing = self.editing()?;
        let message = self.get(id, access).await?;
        if self
            .call("delete", editing.delete(&message.tenant_id, id))
            .await?
        {
            Ok(())
        } else {
            Err(CoreError::NotFound(format!("message {id}")))
        }
    }

    /// A message's changes, oldest first.
    pub async fn history(&self, id: MessageId, access: &TenantAccess) -> Result<Vec<HistoryEntry>> {
        let editing = self.editing()?;
        let message = self.get(id, access).await?;
        Ok(self
            .call("history", editing.history(&message.tenant_id, id))
            .await?)
    }

    fn editing(&self) -> Result<std::sync::Arc<dyn Editing>> {
        self.stores.editing().cloned().ok_or(CoreError::Unsupported(
            "changing or deleting single messages",
        ))
    }
}
