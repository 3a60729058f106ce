//! [`Erasure`]: a conversation or a tenant, archived copies and history included (ON DELETE
//! CASCADE), and a tenant's idempotency records.

use async_trait::async_trait;
use diesel::prelude::*;
use memory_core::domain::{ConversationId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::Erasure;

use crate::error::SqliteStoreError;
use crate::open::SqliteStore;
use crate::schema::{archived_messages, idempotency_keys, messages, retention_policies};

#[async_trait]
impl Erasure for SqliteStore {
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError> {
        let (tenant, conversation) = (tenant.clone(), conversation.clone());
        self.write(move |w, inner| {
            let cached = inner.indexed(&tenant);
            let scope = || {
                messages::tenant_id
                    .eq(tenant.as_str())
                    .and(messages::conversation_id.eq(conversation.as_str()))
            };
            let (n, ids) = w.conn.immediate_transaction(|c| {
                let ids: Vec<Vec<u8>> = if cached {
                    messages::table
                        .filter(scope())
                        .select(messages::id)
                        .load(c)?
                } else {
                    Vec::new()
                };
                // Archived copies go with their messages (ON DELETE CASCADE); the triggers
                // take them out of the full-text index and the scope statistics.
                let n = diesel::delete(messages::table.filter(scope())).execute(c)?;
                Ok::<_, SqliteStoreError>((n, ids))
            })?;
            inner.forget(&tenant, &ids)?;
            Ok(n as u64)
        })
        .await
        .map_err(Into::into)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        let tenant = tenant.clone();
        self.write(move |w, inner| {
            let n = w.conn.immediate_transaction(|c| {
                let n =
                    diesel::delete(messages::table.filter(messages::tenant_id.eq(tenant.as_str())))
                        .execute(c)?;
                // Copies without a message cannot exist (foreign key); this is belt and braces.
                diesel::delete(
                    archived_messages::table
                        .filter(archived_messages::tenant_id.eq(tenant.as_str())),
                )
                .execute(c)?;
                diesel::delete(retention_policies::table.find(tenant.as_str())).execute(c)?;
                diesel::delete(
                    idempotency_keys::table.filter(idempotency_keys::tenant_id.eq(tenant.as_str())),
                )
                .execute(c)?;
                Ok::<_, SqliteStoreError>(n)
            })?;
            inner.drop_indexes(&tenant);
            Ok(n as u64)
        })
        .await
        .map_err(Into::into)
    }
}
