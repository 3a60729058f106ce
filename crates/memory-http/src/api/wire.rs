//! The core's types as the API's wire types (`memory-api-types`), converted by hand: the
//! core derives no serde, and the wire crate knows no core.

use memory_api_types::{
    ArchivePreview, ConversationResponse, DeletePreview, EmbeddingStatusDto, HistoryEntryResponse,
    ListConversationsResponse, ListMessagesResponse, MessageResponse, MessageSnapshot,
    RetentionPolicyDto, RetentionPreviewResponse, RetentionRunResponse, RoleDto, SearchItem,
    SearchModeDto, SearchResponse, SignalsDto, TenantsResponse,
};
use memory_core::domain::{
    ConversationPage, EmbeddingStatus, HistoryEntry, Message, MessagePage, Role, SearchHit,
    SearchMode, SearchResults,
};
use memory_core::retention::{RetentionPolicy, RetentionReport};
use memory_core::service::{RetentionPreview, VisibleTenants};

/// A core value as its wire type. (A trait of ours: both sides are foreign types here, so
/// `From` cannot be implemented.)
pub trait IntoWire {
    /// The wire type.
    type Wire;
    /// Converts.
    fn into_wire(self) -> Self::Wire;
}

impl IntoWire for Role {
    type Wire = RoleDto;
    fn into_wire(self) -> RoleDto {
        match self {
            Role::User => RoleDto::User,
            Role::Assistant => RoleDto::Assistant,
            Role::System => RoleDto::System,
        }
    }
}

impl IntoWire for EmbeddingStatus {
    type Wire = EmbeddingStatusDto;
    fn into_wire(self) -> EmbeddingStatusDto {
        match self {
            EmbeddingStatus::Pending => EmbeddingStatusDto::Pending,
            EmbeddingStatus::Completed => EmbeddingStatusDto::Completed,
            EmbeddingStatus::Failed => EmbeddingStatusDto::Failed,
        }
    }
}

impl IntoWire for Message {
    type Wire = MessageResponse;
    fn into_wire(self) -> MessageResponse {
        MessageResponse {
            id: self.id.as_uuid(),
            tenant_id: self.tenant_id.into_inner(),
            conversation_id: self.conversation_id.into_inner(),
            role: self.role.into_wire(),
            content: self.content.into_inner(),
            metadata: serde_json::Value::Object(self.metadata.into_map()),
            importance_score: self.importance_score.value(),
            importance_override: self.importance_override.map(|i| i.value()),
            embedding_status: self.embedding_status.into_wire(),
            archived: self.archived,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl IntoWire for SearchMode {
    type Wire = SearchModeDto;
    fn into_wire(self) -> SearchModeDto {
        match self {
            SearchMode::Vector => SearchModeDto::Vector,
            SearchMode::Hybrid => SearchModeDto::Hybrid,
            SearchMode::Lexical => SearchModeDto::Lexical,
        }
    }
}

impl IntoWire for SearchHit {
    type Wire = SearchItem;
    fn into_wire(self) -> SearchItem {
        let m = self.message;
        SearchItem {
            message_id: m.id.as_uuid(),
            score: self.score,
            similarity: self.similarity,
            decay: self.decay,
            content: m.content.into_inner(),
            role: m.role.into_wire(),
            metadata: serde_json::Value::Object(m.metadata.into_map()),
            created_at: m.created_at,
            importance: self.importance,
            conversation_id: m.conversation_id.into_inner(),
            lexical: self.lexical,
            fusion: self.fusion,
            signals: self.signals.map(|s| SignalsDto {
                matched: s.matched,
                neighbours: s.neighbours,
                session: s.session,
                date: s.date,
                speaker: s.speaker,
            }),
            relevance: self.relevance,
        }
    }
}

impl IntoWire for SearchResults {
    type Wire = SearchResponse;
    fn into_wire(self) -> SearchResponse {
        let items: Vec<SearchItem> = self.items.into_iter().map(IntoWire::into_wire).collect();
        SearchResponse {
            total: items.len(),
            items,
            mode: self.mode.into_wire(),
            pending_embeddings: self.pending_embeddings,
            min_relevance: self.min_relevance,
            below_min_relevance: self.below_min_relevance as u64,
        }
    }
}

impl IntoWire for MessagePage {
    type Wire = ListMessagesResponse;
    fn into_wire(self) -> ListMessagesResponse {
        ListMessagesResponse {
            messages: self.messages.into_iter().map(IntoWire::into_wire).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

impl IntoWire for HistoryEntry {
    type Wire = HistoryEntryResponse;
    fn into_wire(self) -> HistoryEntryResponse {
        HistoryEntryResponse {
            changed: self
                .changed_fields()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            id: self.id,
            at: self.at,
            actor: self.actor.as_str().to_owned(),
            old: MessageSnapshot {
                content: self.old_content.into_inner(),
                metadata: self.old_metadata.to_value(),
                importance_score: self.old_importance.value(),
            },
            new: MessageSnapshot {
                content: self.new_content.into_inner(),
                metadata: self.new_metadata.to_value(),
                importance_score: self.new_importance.value(),
            },
        }
    }
}

impl IntoWire for RetentionReport {
    type Wire = RetentionRunResponse;
    fn into_wire(self) -> RetentionRunResponse {
        RetentionRunResponse {
            archived: self.archived,
            deleted: self.deleted,
            dry_run: self.dry_run,
        }
    }
}

impl IntoWire for VisibleTenants {
    type Wire = TenantsResponse;
    fn into_wire(self) -> TenantsResponse {
        TenantsResponse {
            admin: self.admin,
            tenants: self.tenants.into_iter().map(|t| t.into_inner()).collect(),
        }
    }
}

impl IntoWire for ConversationPage {
    type Wire = ListConversationsResponse;
    fn into_wire(self) -> ListConversationsResponse {
        ListConversationsResponse {
            conversations: self
                .conversations
                .into_iter()
                .map(|c| ConversationResponse {
                    conversation_id: c.conversation_id.into_inner(),
                    messages: c.messages,
                    archived: c.archived,
                    first_message_at: c.first_message_at,
                    last_message_at: c.last_message_at,
                })
                .collect(),
            next_cursor: self.next_cursor,
        }
    }
}

impl IntoWire for RetentionPolicy {
    type Wire = RetentionPolicyDto;
    fn into_wire(self) -> RetentionPolicyDto {
        RetentionPolicyDto {
            max_age_days: self.max_age_days(),
            importance_threshold: self.importance_threshold().value(),
            delete_after_days: self.delete_after_days(),
        }
    }
}

impl IntoWire for RetentionPreview {
    type Wire = RetentionPreviewResponse;
    fn into_wire(self) -> RetentionPreviewResponse {
        RetentionPreviewResponse {
            tenant_id: self.tenant_id.into_inner(),
            now: self.now,
            policy: self.policy.into_wire(),
            archive: ArchivePreview {
                count: self.would_archive,
                created_before: self.archive_rule.created_before,
                importance_below: self.archive_rule.importance_below.value(),
                sample: self.sample.into_iter().map(IntoWire::into_wire).collect(),
            },
            delete: DeletePreview {
                count: self.would_delete,
                archived_before: self.purge_cutoff,
            },
        }
    }
}
