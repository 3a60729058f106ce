//! [`Timeline`]: a conversation's message ids in time order.

use async_trait::async_trait;
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use memory_core::domain::{ConversationId, MessageId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::Timeline;
use uuid::Uuid;

use crate::open::PostgresStore;
use crate::schema::messages::dsl as m;

#[async_trait]
impl Timeline for PostgresStore {
    /// One past `limit` is fetched, so a longer conversation is told apart without counting
    /// it (messages_tenant_conversation_idx).
    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        let (tenant, conversation) = (tenant.as_str(), conversation.as_str());
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
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
}
