//! [`Erasure`]: deleting a conversation or a whole tenant for privacy requests.

use async_trait::async_trait;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use memory_core::domain::{ConversationId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::Erasure;

use crate::error::PgStoreError;
use crate::open::PostgresStore;

impl PostgresStore {
    /// Deletes a tenant's conversation, or (`conversation` None) all of the tenant and its
    /// policy and idempotency records, in one transaction. Archived copies and history go with
    /// their messages (ON DELETE CASCADE).
    async fn erase(
        &self,
        tenant: &TenantId,
        conversation: Option<&ConversationId>,
    ) -> Result<u64, PgStoreError> {
        let tenant = tenant.as_str();
        let conversation = conversation.map(ConversationId::as_str);
        self.with_conn("erase", async |conn| {
            conn.transaction::<_, PgStoreError, _>(async |conn| {
                let n = match conversation {
                    Some(c) => {
                        diesel::sql_query(
                            "DELETE FROM messages WHERE tenant_id = $1 AND conversation_id = $2",
                        )
                        .bind::<Text, _>(tenant)
                        .bind::<Text, _>(c)
                        .execute(conn)
                        .await?
                    }
                    None => {
                        let n = diesel::sql_query("DELETE FROM messages WHERE tenant_id = $1")
                            .bind::<Text, _>(tenant)
                            .execute(conn)
                            .await?;
                        diesel::sql_query("DELETE FROM retention_policies WHERE tenant_id = $1")
                            .bind::<Text, _>(tenant)
                            .execute(conn)
                            .await?;
                        diesel::sql_query("DELETE FROM idempotency_keys WHERE tenant_id = $1")
                            .bind::<Text, _>(tenant)
                            .execute(conn)
                            .await?;
                        n
                    }
                };
                Ok(n as u64)
            })
            .await
        })
        .await
    }
}

#[async_trait]
impl Erasure for PostgresStore {
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError> {
        Ok(self.erase(tenant, Some(conversation)).await?)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        Ok(self.erase(tenant, None).await?)
    }
}
