//! Messages: as stored, and as a client submits them.

use chrono::{DateTime, Utc};

use super::{
    Content, ConversationId, Embedding, EmbeddingStatus, Importance, MessageId, Metadata, Role,
    TenantId,
};
use crate::error::ValidationErrors;

/// A stored chat message. Every field is a validated type, so a `Message` is always valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Identity.
    pub id: MessageId,
    /// Owner; every query is scoped to one tenant.
    pub tenant_id: TenantId,
    /// Conversation within the tenant.
    pub conversation_id: ConversationId,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: Content,
    /// Free-form JSON object, echoed back as sent.
    pub metadata: Metadata,
    /// Importance computed at ingest (see `docs/scoring.md`).
    pub importance_score: Importance,
    /// The client's own importance, when it gave one (at ingest or by a patch): weighted
    /// into `importance_score`, and kept so that readers can tell a scored value from a
    /// chosen one.
    pub importance_override: Option<Importance>,
    /// The embedding, once computed. Repositories may leave it out of search results.
    pub embedding: Option<Embedding>,
    /// Whether the embedding is there yet.
    pub embedding_status: EmbeddingStatus,
    /// Set by retention; archived messages take no part in search.
    pub archived: bool,
    /// When the message was written (the client may backdate it on import, never future-date).
    pub created_at: DateTime<Utc>,
    /// Last change (embedding, archive).
    pub updated_at: DateTime<Utc>,
}

/// A message as a client submits it, validated by [`NewMessage::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub(crate) tenant_id: TenantId,
    pub(crate) conversation_id: ConversationId,
    pub(crate) role: Role,
    pub(crate) content: Content,
    pub(crate) metadata: Metadata,
    pub(crate) importance_override: Option<Importance>,
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl NewMessage {
    /// Owner.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// Conversation.
    pub fn conversation_id(&self) -> &ConversationId {
        &self.conversation_id
    }

    /// Author.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Text.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// Metadata (empty object when absent).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The client's own importance, weighted 40% (see `docs/scoring.md`).
    pub fn importance_override(&self) -> Option<Importance> {
        self.importance_override
    }

    /// For imports: when the message was really written. `None` means now.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }

    /// Validates raw fields, collecting every error. `metadata` may be `None` (empty object).
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        tenant_id: &str,
        conversation_id: &str,
        role: &str,
        content: &str,
        metadata: Option<serde_json::Value>,
        importance_override: Option<f64>,
        created_at: Option<DateTime<Utc>>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let tenant_id = errors.check(TenantId::parse(tenant_id));
        let conversation_id = errors.check(ConversationId::parse(conversation_id));
        let role = errors.check(Role::parse(role));
        let content = errors.check(Content::parse(content));
        let metadata = errors.check(metadata.map_or(Ok(Metadata::default()), Metadata::parse));
        let importance_override = match importance_override {
            Some(v) => errors
                .check(Importance::parse_field("importance_override", v))
                .map(Some),
            None => Some(None),
        };
        match (
            tenant_id,
            conversation_id,
            role,
            content,
            metadata,
            importance_override,
        ) {
            (
                Some(tenant_id),
                Some(conversation_id),
                Some(role),
                Some(content),
                Some(metadata),
                Some(importance_override),
            ) if errors.is_empty() => Ok(Self {
                tenant_id,
                conversation_id,
                role,
                content,
                metadata,
                importance_override,
                created_at,
            }),
            _ => Err(errors),
        }
    }
}
