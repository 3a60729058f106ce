//! [`Timeline`]: a conversation's ids in time order, through `messages_tenant_conversation`.

use async_trait::async_trait;
use diesel::prelude::*;
use memory_core::domain::{ConversationId, MessageId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::Timeline;

use crate::open::SqliteStore;
use crate::rows::message_id;
use crate::schema::messages;

#[async_trait]
impl Timeline for SqliteStore {
    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        let (tenant, conversation) = (tenant.clone(), conversation.clone());
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        self.read(move |c, _| {
            let ids: Vec<Vec<u8>> = messages::table
                .filter(messages::tenant_id.eq(tenant.as_str()))
                .filter(messages::conversation_id.eq(conversation.as_str()))
                .filter(messages::archived.eq(false))
                .order((messages::created_at.asc(), messages::id.asc()))
                .select(messages::id)
                .limit(fetch)
                .load(c)?;
            if ids.len() > limit {
                return Ok(None);
            }
            ids.iter()
                .map(|id| message_id(id))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        })
        .await
        .map_err(Into::into)
    }
}
