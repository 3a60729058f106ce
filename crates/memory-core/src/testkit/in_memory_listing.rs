//! [`Listing`] for the [`InMemoryStore`]: sorting and grouping in Rust.

use std::collections::HashMap;

use async_trait::async_trait;

use super::InMemoryStore;
use crate::domain::{ConversationId, ConversationSummary, Message, SortOrder};
use crate::error::RepositoryError;
use crate::ports::{ConversationQuery, ListQuery, Listing};

#[async_trait]
impl Listing for InMemoryStore {
    async fn list(&self, q: &ListQuery) -> Result<Vec<Message>, RepositoryError> {
        let key = |m: &Message| (m.created_at, m.id);
        let mut out: Vec<Message> = self
            .rows()
            .values()
            .map(|r| &r.message)
            .filter(|m| {
                m.tenant_id == q.tenant_id
                    && q.conversation_id
                        .as_ref()
                        .is_none_or(|c| *c == m.conversation_id)
                    && q.role.is_none_or(|r| r == m.role)
                    && q.archived.is_none_or(|a| a == m.archived)
                    && q.created_after.is_none_or(|t| m.created_at >= t)
                    && q.created_before.is_none_or(|t| m.created_at < t)
                    && q.after.is_none_or(|p| match q.order {
                        SortOrder::Asc => key(m) > (p.created_at, p.id),
                        SortOrder::Desc => key(m) < (p.created_at, p.id),
                    })
            })
            .cloned()
            .collect();
        out.sort_by_key(key);
        if q.order == SortOrder::Desc {
            out.reverse();
        }
        out.truncate(q.limit);
        if !q.with_embeddings {
            for m in &mut out {
                m.embedding = None;
            }
        }
        Ok(out)
    }

    async fn conversations(
        &self,
        q: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, RepositoryError> {
        let mut by_id: HashMap<ConversationId, ConversationSummary> = HashMap::new();
        let rows = self.rows();
        for m in rows
            .values()
            .map(|r| &r.message)
            .filter(|m| m.tenant_id == q.tenant_id)
        {
            by_id
                .entry(m.conversation_id.clone())
                .and_modify(|s| s.add(m))
                .or_insert_with(|| ConversationSummary::of(m));
        }
        let mut out: Vec<ConversationSummary> = by_id
            .into_values()
            .filter(|c| q.before.as_ref().is_none_or(|(at, id)| c.key() < (*at, id)))
            .collect();
        out.sort_by(|a, b| b.key().cmp(&a.key()));
        out.truncate(q.limit);
        Ok(out)
    }
}
