//! [`InMemoryStore`]: every store port over maps in memory. For other teams' tests and as an
//! example of an adapter; the contract suite checks it like any store.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    Content, ConversationId, EmbeddingStatus, HistoryEntry, IdempotencyRecord, Message, MessageId,
    TenantId, cosine_similarity,
};
use crate::error::RepositoryError;
use crate::ports::{
    Candidate, CandidateQuery, Editing, EmbeddingUpdate, Erasure, LexicalDocument, LexicalMatches,
    LexicalQuery, LexicalSearch, MessageRecord, MessageStore, RetentionStore, Revision, Timeline,
    VectorSearch, rank_matches,
};
use crate::retention::{ArchiveRule, RetentionPolicy};
use crate::text::AnalyzedText;

/// A stored message: the message, its analysed text (`None`: never analysed) and, once
/// archived, when.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) message: Message,
    terms: Option<AnalyzedText>,
    archived_at: Option<DateTime<Utc>>,
    /// Its changes, oldest first (they go when the row goes).
    history: Vec<HistoryEntry>,
}

type Keys = HashMap<(TenantId, String), IdempotencyRecord>;

/// Every store port in memory, behind one mutex (no await happens while it is held).
#[derive(Debug)]
pub struct InMemoryStore {
    dimension: usize,
    rows: Mutex<HashMap<MessageId, Row>>,
    policies: Mutex<HashMap<TenantId, RetentionPolicy>>,
    keys: Mutex<Keys>,
    pub(super) leases: super::in_memory_leases::LeaseTable,
}

impl InMemoryStore {
    /// An empty store for embeddings of `dimension` values.
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension,
            rows: Mutex::default(),
            policies: Mutex::default(),
            keys: Mutex::default(),
            leases: Default::default(),
        }
    }

    /// Stores a message as an old binary would have: without analysed text (to test the
    /// service's backfill).
    pub fn insert_unanalyzed(&self, message: Message) {
        self.rows().insert(
            message.id,
            Row {
                message,
                terms: None,
                archived_at: None,
                history: Vec::new(),
            },
        );
    }

    pub(super) fn rows(&self) -> MutexGuard<'_, HashMap<MessageId, Row>> {
        // No invariant spans two rows: a panic elsewhere cannot leave the map inconsistent.
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn keys(&self) -> MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn policies(&self) -> MutexGuard<'_, HashMap<TenantId, RetentionPolicy>> {
        self.policies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `m` is in the scope of a query: tenant, conversation, importance, not archived.
fn in_scope(
    m: &Message,
    tenant: &TenantId,
    conversation: Option<&ConversationId>,
    importance_min: Option<crate::domain::Importance>,
) -> bool {
    m.tenant_id == *tenant
        && !m.archived
        && conversation.is_none_or(|c| *c == m.conversation_id)
        && importance_min.is_none_or(|min| m.importance_score.value() >= min.value())
}

#[async_trait]
impl MessageStore for InMemoryStore {
    async fn insert(&self, record: &MessageRecord) -> Result<(), RepositoryError> {
        self.insert_batch(std::slice::from_ref(record), None).await
    }

    async fn insert_batch(
        &self,
        records: &[MessageRecord],
        key: Option<IdempotencyRecord>,
    ) -> Result<(), RepositoryError> {
        for r in records {
            if let Some(e) = &r.message.embedding {
                e.check_dimension(self.dimension)?;
            }
        }
        let mut rows = self.rows();
        let mut keys = self.keys();
        // Every check before the first write: all or nothing.
        let mut seen = std::collections::HashSet::new();
        for r in records {
            if rows.contains_key(&r.message.id) || !seen.insert(r.message.id) {
                return Err(RepositoryError::Conflict(format!(
                    "message {} exists",
                    r.message.id
                )));
            }
        }
        if let Some(k) = &key
            && keys.contains_key(&(k.tenant_id.clone(), k.key.clone()))
        {
            return Err(RepositoryError::DuplicateKey(k.key.clone()));
        }
        for r in records {
            let archived_at = r.message.archived.then_some(r.message.updated_at);
            rows.insert(
                r.message.id,
                Row {
                    message: r.message.clone(),
                    terms: Some(r.terms.clone()),
                    archived_at,
                    history: Vec::new(),
                },
            );
        }
        if let Some(k) = key {
            keys.insert((k.tenant_id.clone(), k.key.clone()), k);
        }
        Ok(())
    }

    async fn find_idempotency(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError> {
        Ok(self.keys().get(&(tenant.clone(), key.to_owned())).cloned())
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let mut keys = self.keys();
        let n = keys.len();
        keys.retain(|_, k| k.created_at >= before);
        Ok((n - keys.len()) as u64)
    }

    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        Ok(self.rows().get(&id).map(|r| r.message.clone()))
    }

    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        read_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        if let EmbeddingUpdate::Completed(e) = &update {
            e.check_dimension(self.dimension)?;
        }
        let mut rows = self.rows();
        let Some(row) = rows
            .get_mut(&id)
            .filter(|r| r.message.updated_at == read_at)
        else {
            return Ok(false);
        };
        let m = &mut row.message;
        match update {
            EmbeddingUpdate::Completed(e) => {
                m.embedding = Some(e);
                m.embedding_status = EmbeddingStatus::Completed;
            }
            EmbeddingUpdate::Failed => m.embedding_status = EmbeddingStatus::Failed,
        }
        m.updated_at = at;
        Ok(true)
    }

    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        let mut out: Vec<Message> = self
            .rows()
            .values()
            .map(|r| &r.message)
            .filter(|m| !m.archived && m.embedding_status != EmbeddingStatus::Completed)
            .cloned()
            .collect();
        out.sort_by_key(|m| (m.created_at, m.id));
        out.truncate(limit);
        Ok(out)
    }

    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        Ok(self
            .rows()
            .values()
            .map(|r| &r.message)
            .filter(|m| !m.archived && m.embedding_status != EmbeddingStatus::Completed)
            .filter(|m| tenant.as_ref().is_none_or(|t| *t == m.tenant_id))
            .filter(|m| {
                conversation
                    .as_ref()
                    .is_none_or(|c| *c == m.conversation_id)
            })
            .count() as u64)
    }

    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        let mut t: Vec<TenantId> = self
            .rows()
            .values()
            .map(|r| r.message.tenant_id.clone())
            .collect();
        t.sort();
        t.dedup();
        Ok(t)
    }

    async fn health(&self) -> Result<(), RepositoryError> {
        Ok(())
    }
}

#[async_trait]
impl VectorSearch for InMemoryStore {
    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn search_candidates(
        &self,
        q: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        q.embedding.check_dimension(self.dimension)?;
        let mut out: Vec<Candidate> = self
            .rows()
            .values()
            .map(|r| &r.message)
            .filter(|m| {
                in_scope(
                    m,
                    &q.tenant_id,
                    q.conversation_id.as_ref(),
                    q.importance_min,
                )
            })
            .filter(|m| m.embedding_status == EmbeddingStatus::Completed)
            .filter(|m| q.filters.admits(m.created_at, &m.metadata))
            .filter_map(|m| {
                let e = m.embedding.as_ref()?;
                Some(Candidate {
                    similarity: f64::from(cosine_similarity(e.as_slice(), q.embedding.as_slice())),
                    message: m.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| a.message.id.cmp(&b.message.id))
        });
        out.truncate(q.limit);
        Ok(out)
    }
}

#[async_trait]
impl LexicalSearch for InMemoryStore {
    async fn lexical_candidates(
        &self,
        q: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        let rows = self.rows();
        let scope: Vec<(&Message, &str, usize)> = rows
            .values()
            .filter(|r| {
                in_scope(
                    &r.message,
                    &q.tenant_id,
                    q.conversation_id.as_ref(),
                    q.importance_min,
                )
            })
            .map(|r| {
                let terms = r.terms.as_ref();
                (
                    &r.message,
                    terms.map_or("", AnalyzedText::terms),
                    terms.map_or(0, AnalyzedText::length),
                )
            })
            .collect();
        let total: usize = scope.iter().map(|(_, _, n)| n).sum();
        let average_length = if scope.is_empty() {
            0.0
        } else {
            total as f64 / scope.len() as f64
        };
        let matches: Vec<(MessageId, String, &Message)> = scope
            .iter()
            .filter(|(_, terms, _)| terms.split(' ').any(|w| q.terms.iter().any(|t| t == w)))
            .filter(|(m, _, _)| q.filters.admits(m.created_at, &m.metadata))
            .map(|(m, terms, _)| (m.id, (*terms).to_owned(), *m))
            .collect();
        let ranked = rank_matches(q, scope.len() as u64, average_length, matches);
        let documents = ranked
            .best
            .into_iter()
            .map(|(_, m)| LexicalDocument {
                message: m.clone(),
                terms: rows
                    .get(&m.id)
                    .and_then(|r| r.terms.as_ref())
                    .map_or_else(String::new, |t| t.terms().to_owned()),
            })
            .collect();
        Ok(LexicalMatches {
            scope_size: scope.len() as u64,
            average_length,
            document_frequencies: ranked.document_frequencies,
            documents,
        })
    }

    async fn unanalyzed(&self, limit: usize) -> Result<Vec<(MessageId, Content)>, RepositoryError> {
        let mut out: Vec<(MessageId, Content)> = self
            .rows()
            .values()
            .filter(|r| r.terms.is_none())
            .map(|r| (r.message.id, r.message.content.clone()))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out.truncate(limit);
        Ok(out)
    }

    async fn store_analysis(
        &self,
        analysed: &[(MessageId, AnalyzedText)],
    ) -> Result<u64, RepositoryError> {
        let mut rows = self.rows();
        let mut n = 0;
        for (id, terms) in analysed {
            if let Some(row) = rows.get_mut(id) {
                row.terms = Some(terms.clone());
                n += 1;
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl RetentionStore for InMemoryStore {
    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let mut rows = self.rows();
        let mut n = 0;
        for row in rows
            .values_mut()
            .filter(|r| r.message.tenant_id == *tenant && rule.matches(&r.message))
        {
            n += 1;
            if !dry_run {
                row.message.archived = true;
                row.message.updated_at = now;
                row.archived_at = Some(now);
            }
        }
        Ok(n)
    }

    async fn purge_archived(
        &self,
        tenant: &TenantId,
        archived_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let mut rows = self.rows();
        let doomed = |r: &Row| {
            r.message.tenant_id == *tenant && r.archived_at.is_some_and(|at| at < archived_before)
        };
        let n = rows.values().filter(|r| doomed(r)).count() as u64;
        if !dry_run {
            rows.retain(|_, r| !doomed(r));
        }
        Ok(n)
    }

    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError> {
        Ok(self.policies().get(tenant).cloned())
    }

    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        _at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        self.policies().insert(tenant.clone(), policy.clone());
        Ok(())
    }
}

#[async_trait]
impl Erasure for InMemoryStore {
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError> {
        let mut rows = self.rows();
        let before = rows.len();
        rows.retain(|_, r| {
            !(r.message.tenant_id == *tenant && r.message.conversation_id == *conversation)
        });
        Ok((before - rows.len()) as u64)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        self.policies().remove(tenant);
        self.keys().retain(|(t, _), _| t != tenant);
        let mut rows = self.rows();
        let before = rows.len();
        rows.retain(|_, r| r.message.tenant_id != *tenant);
        Ok((before - rows.len()) as u64)
    }
}

#[async_trait]
impl Timeline for InMemoryStore {
    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        let mut line: Vec<(DateTime<Utc>, MessageId)> = self
            .rows()
            .values()
            .map(|r| &r.message)
            .filter(|m| in_scope(m, tenant, Some(conversation), None))
            .map(|m| (m.created_at, m.id))
            .collect();
        if line.len() > limit {
            return Ok(None);
        }
        line.sort();
        Ok(Some(line.into_iter().map(|(_, id)| id).collect()))
    }
}

#[async_trait]
impl Editing for InMemoryStore {
    async fn update(
        &self,
        revision: &Revision,
        key: Option<IdempotencyRecord>,
    ) -> Result<bool, RepositoryError> {
        let next = &revision.record.message;
        if let Some(e) = &next.embedding {
            e.check_dimension(self.dimension)?;
        }
        let mut rows = self.rows();
        let mut keys = self.keys();
        let Some(row) = rows.get_mut(&next.id) else {
            return Ok(false);
        };
        if row.message.updated_at != revision.expected_updated_at {
            return Ok(false);
        }
        if let Some(k) = &key
            && keys.contains_key(&(k.tenant_id.clone(), k.key.clone()))
        {
            return Err(RepositoryError::DuplicateKey(k.key.clone()));
        }
        let m = &mut row.message;
        m.content = next.content.clone();
        m.metadata = next.metadata.clone();
        m.importance_score = next.importance_score;
        m.importance_override = next.importance_override;
        m.embedding = next.embedding.clone();
        m.embedding_status = next.embedding_status;
        m.updated_at = next.updated_at;
        row.terms = Some(revision.record.terms.clone());
        row.history.push(revision.entry.clone());
        if let Some(k) = key {
            keys.insert((k.tenant_id.clone(), k.key.clone()), k);
        }
        Ok(true)
    }

    async fn delete(&self, tenant: &TenantId, id: MessageId) -> Result<bool, RepositoryError> {
        let mut rows = self.rows();
        let mine = rows
            .get(&id)
            .is_some_and(|r| r.message.tenant_id == *tenant);
        Ok(mine && rows.remove(&id).is_some())
    }

    async fn history(
        &self,
        t: &TenantId,
        id: MessageId,
    ) -> Result<Vec<HistoryEntry>, RepositoryError> {
        let rows = self.rows();
        let row = rows.get(&id).filter(|r| r.message.tenant_id == *t);
        Ok(row.map(|r| r.history.clone()).unwrap_or_default())
    }
}
