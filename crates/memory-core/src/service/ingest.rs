//! Ingest: score, embed, store once.

use chrono::Duration;

use super::{MemoryService, truncate_to_micros};
use crate::access::TenantAccess;
use crate::domain::{EmbeddingStatus, Message, MessageId, NewMessage};
use crate::error::{CoreError, EmbedderError, FieldError, Result};
use crate::ports::MessageRecord;

/// How far ahead of the server's clock a client's `created_at` may be (clock skew); it is
/// then taken as now. Further ahead is a validation error.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

impl MemoryService {
    /// Embeds a message, then stores it with its embedding and analysed text in one write.
    ///
    /// `Ok` means the message is committed. Its embedding status says what the embedder did:
    /// `completed`; `pending` when the embedder was unavailable, overloaded or too slow; or
    /// `failed` when the model failed on this text. [`MemoryService::embed_pending`] retries
    /// pending and failed messages later. Nothing is acknowledged before the write, so
    /// embedding first costs nothing in durability, and one write per message (rather than an
    /// insert and then an update) halves what ingest asks of the store.
    pub async fn ingest(&self, new: NewMessage, access: &TenantAccess) -> Result<Message> {
        Self::check_access(access, &new.tenant_id)?;
        let now = truncate_to_micros(self.clock.now());
        let created_at = match new.created_at {
            None => now,
            Some(t) if t > now + Duration::seconds(MAX_CLOCK_SKEW_SECONDS) => {
                return Err(FieldError::new("created_at", "must not be in the future").into());
            }
            Some(t) => truncate_to_micros(t.min(now)),
        };
        let importance = self
            .scorer
            .score(created_at, now, new.role, new.importance_override);
        let (embedding, embedding_status) = match self.embed_one(new.content.as_str()).await {
            Ok(e) => (Some(e), EmbeddingStatus::Completed),
            Err(CoreError::Embedder(EmbedderError::Failed { .. })) => {
                (None, EmbeddingStatus::Failed)
            }
            Err(_) => (None, EmbeddingStatus::Pending),
        };
        let record = MessageRecord::new(Message {
            id: MessageId::new(),
            tenant_id: new.tenant_id,
            conversation_id: new.conversation_id,
            role: new.role,
            content: new.content,
            metadata: new.metadata,
            importance_score: importance,
            embedding,
            embedding_status,
            archived: false,
            created_at,
            updated_at: now,
        });
        self.call("insert", self.stores.messages().insert(&record))
            .await?;
        Ok(record.message)
    }
}
