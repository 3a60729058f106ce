//! Listing: a tenant's messages a page at a time, by keyset on `(created_at, id)`.

use super::MemoryService;
use crate::access::TenantAccess;
use crate::domain::TenantId;
use crate::domain::{ConversationPage, ConversationRequest, ListRequest, MessagePage, Position};
use crate::error::{CoreError, Result};
use crate::ports::{ConversationQuery, ListQuery, Listing};

/// The tenants a caller may see, and whether it is an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibleTenants {
    /// An admin key (or no authentication): may act on every tenant, and erase.
    pub admin: bool,
    /// Sorted: every tenant with a stored message for an admin; a bound key's own tenants
    /// (stored messages or not) otherwise.
    pub tenants: Vec<TenantId>,
}

impl MemoryService {
    /// One page of a tenant's messages (archived ones included unless the request says
    /// otherwise), in `(created_at, id)` order, with the cursor of the next page. Paging is
    /// stable: no message that existed when the first page was read is skipped or repeated,
    /// whatever is written meanwhile. `with_embeddings` reads the vectors too (exports).
    pub async fn list(
        &self,
        request: &ListRequest,
        access: &TenantAccess,
        with_embeddings: bool,
    ) -> Result<MessagePage> {
        Self::check_access(access, &request.tenant_id)?;
        let listing = self.listing()?;
        let query = ListQuery {
            tenant_id: request.tenant_id.clone(),
            conversation_id: request.conversation_id.clone(),
            role: request.role,
            archived: request.archived,
            created_after: request.created_after,
            created_before: request.created_before,
            order: request.order,
            after: request.after,
            // One more than asked: whether a next page exists, without a second query.
            limit: request.limit + 1,
            with_embeddings,
        };
        let mut messages = self.call("list", listing.list(&query)).await?;
        let next_cursor = if messages.len() > request.limit {
            messages.truncate(request.limit);
            messages.last().map(|m| {
                request.cursor_after(Position {
                    created_at: m.created_at,
                    id: m.id,
                })
            })
        } else {
            None
        };
        Ok(MessagePage {
            messages,
            next_cursor,
        })
    }

    /// One page of a tenant's conversations, most recently active first, with the cursor of
    /// the next page. A conversation written to after the first page was read moves to the
    /// top: a fresh first page shows it.
    pub async fn conversations(
        &self,
        request: &ConversationRequest,
        access: &TenantAccess,
    ) -> Result<ConversationPage> {
        Self::check_access(access, &request.tenant_id)?;
        let query = ConversationQuery {
            tenant_id: request.tenant_id.clone(),
            before: request.before.clone(),
            limit: request.limit + 1,
        };
        let mut conversations = self
            .call("conversations", self.listing()?.conversations(&query))
            .await?;
        let next_cursor = if conversations.len() > request.limit {
            conversations.truncate(request.limit);
            conversations.last().map(|c| request.cursor_after(c))
        } else {
            None
        };
        Ok(ConversationPage {
            conversations,
            next_cursor,
        })
    }

    /// The tenants `access` may see: every stored tenant for an admin, its own for a bound
    /// key (without a store call, so a bound key learns nothing of other tenants).
    pub async fn visible_tenants(&self, access: &TenantAccess) -> Result<VisibleTenants> {
        let tenants = match access {
            TenantAccess::All => {
                let mut all = self.list_tenants().await?;
                all.sort();
                all
            }
            TenantAccess::Only(set) => set.iter().cloned().collect(),
        };
        Ok(VisibleTenants {
            admin: access.is_admin(),
            tenants,
        })
    }

    fn listing(&self) -> Result<&std::sync::Arc<dyn Listing>> {
        self.stores
            .listing()
            .ok_or(CoreError::Unsupported("listing messages"))
    }
}
