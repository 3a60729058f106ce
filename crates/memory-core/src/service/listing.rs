//! Listing: a tenant's messages a page at a time, by keyset on `(created_at, id)`.

use super::MemoryService;
use crate::access::TenantAccess;
use crate::domain::{ListRequest, MessagePage, Position};
use crate::error::{CoreError, Result};
use crate::ports::ListQuery;

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
        let listing = self
            .stores
            .listing()
            .ok_or(CoreError::Unsupported("listing messages"))?;
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
}
