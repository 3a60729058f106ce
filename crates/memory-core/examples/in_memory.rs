//! Another team's adapters: an in-memory repository and a toy embedder driving
//! `MemoryService`. Run it with `cargo run -p memory-core --example in_memory`.
//!
//! The same `InMemoryStore` is checked against the repository contract suite in
//! `tests/contract_in_memory.rs`, as any adapter of yours should be.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use memory_core::domain::ConversationId;
use memory_core::domain::{
    Embedding, EmbeddingStatus, Message, MessageId, NewMessage, SearchQuery, TenantId,
    cosine_similarity,
};
use memory_core::error::{EmbedderError, RepositoryError};
use memory_core::ports::{
    CandidateQuery, Embedder, EmbeddingUpdate, LexicalDocument, LexicalMatches, LexicalQuery,
    MessageRepository, RetentionPolicyStore, SystemClock,
};
use memory_core::retention::{ArchiveRule, RetentionPolicy, RetentionRequest, TenantAccess};
use memory_core::scoring::Candidate;
use memory_core::text::Analyzer;
use memory_core::{MemoryService, ServiceConfig};

/// A message and, once archived, when.
type Row = (Message, Option<DateTime<Utc>>);

/// Messages in a map, with the time each was archived. A `Mutex` is fine: no await inside.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    messages: Mutex<HashMap<MessageId, Row>>,
    policies: Mutex<HashMap<TenantId, RetentionPolicy>>,
}

fn poisoned<T>(_: T) -> RepositoryError {
    RepositoryError::Internal("lock poisoned".into())
}

#[async_trait]
impl MessageRepository for InMemoryStore {
    async fn insert(&self, message: &Message) -> Result<(), RepositoryError> {
        let mut map = self.messages.lock().map_err(poisoned)?;
        if map.contains_key(&message.id) {
            return Err(RepositoryError::Conflict(format!(
                "message {} exists",
                message.id
            )));
        }
        map.insert(message.id, (message.clone(), None));
        Ok(())
    }

    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        Ok(self
            .messages
            .lock()
            .map_err(poisoned)?
            .get(&id)
            .map(|(m, _)| m.clone()))
    }

    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut map = self.messages.lock().map_err(poisoned)?;
        let Some((m, _)) = map.get_mut(&id) else {
            return Ok(false);
        };
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

    async fn search_candidates(
        &self,
        q: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        let map = self.messages.lock().map_err(poisoned)?;
        let mut out: Vec<Candidate> = map
            .values()
            .map(|(m, _)| m)
            .filter(|m| m.tenant_id == q.tenant_id && !m.archived)
            .filter(|m| {
                q.conversation_id
                    .as_ref()
                    .is_none_or(|c| *c == m.conversation_id)
            })
            .filter(|m| {
                q.importance_min
                    .is_none_or(|min| m.importance_score.value() >= min.value())
            })
            .filter_map(|m| {
                let e = m.embedding.as_ref()?;
                Some(Candidate {
                    similarity: f64::from(cosine_similarity(e.as_slice(), q.embedding.as_slice())),
                    message: m.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        out.truncate(q.limit);
        Ok(out)
    }

    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let mut map = self.messages.lock().map_err(poisoned)?;
        let mut n = 0;
        for (m, archived_at) in map
            .values_mut()
            .filter(|(m, _)| m.tenant_id == *tenant && rule.matches(m))
        {
            n += 1;
            if !dry_run {
                m.archived = true;
                m.updated_at = now;
                *archived_at = Some(now);
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
        let mut map = self.messages.lock().map_err(poisoned)?;
        let doomed =
            |(m, at): &Row| m.tenant_id == *tenant && at.is_some_and(|at| at < archived_before);
        let n = map.values().filter(|v| doomed(v)).count() as u64;
        if !dry_run {
            map.retain(|_, v| !doomed(v));
        }
        Ok(n)
    }

    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        let map = self.messages.lock().map_err(poisoned)?;
        let mut out: Vec<Message> = map
            .values()
            .map(|(m, _)| m)
            .filter(|m| !m.archived && m.embedding_status != EmbeddingStatus::Completed)
            .cloned()
            .collect();
        out.sort_by_key(|m| (m.created_at, m.id));
        out.truncate(limit);
        Ok(out)
    }

    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        let map = self.messages.lock().map_err(poisoned)?;
        let mut t: Vec<TenantId> = map.values().map(|(m, _)| m.tenant_id.clone()).collect();
        t.sort();
        t.dedup();
        Ok(t)
    }

    async fn health(&self) -> Result<(), RepositoryError> {
        Ok(())
    }

    async fn lexical_candidates(
        &self,
        q: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        let map = self.messages.lock().map_err(poisoned)?;
        let analyzer = Analyzer::english();
        let scope: Vec<(&Message, String)> = map
            .values()
            .map(|(m, _)| m)
            .filter(|m| m.tenant_id == q.tenant_id && !m.archived)
            .filter(|m| {
                q.conversation_id
                    .as_ref()
                    .is_none_or(|c| *c == m.conversation_id)
            })
            .filter(|m| {
                q.importance_min
                    .is_none_or(|min| m.importance_score.value() >= min.value())
            })
            .map(|m| (m, analyzer.index_text(m.content.as_str())))
            .collect();
        let total: usize = scope
            .iter()
            .map(|(_, t)| t.split(' ').filter(|w| !w.is_empty()).count())
            .sum();
        let documents: Vec<LexicalDocument> = scope
            .iter()
            .filter(|(_, terms)| terms.split(' ').any(|w| q.terms.iter().any(|t| t == w)))
            .take(q.limit)
            .map(|(m, terms)| LexicalDocument {
                message: (*m).clone(),
                terms: terms.clone(),
            })
            .collect();
        Ok(LexicalMatches {
            scope_size: scope.len() as u64,
            average_length: if scope.is_empty() {
                0.0
            } else {
                total as f64 / scope.len() as f64
            },
            documents,
        })
    }

    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        let map = self.messages.lock().map_err(poisoned)?;
        Ok(map
            .values()
            .map(|(m, _)| m)
            .filter(|m| !m.archived && m.embedding_status != EmbeddingStatus::Completed)
            .filter(|m| tenant.as_ref().is_none_or(|t| *t == m.tenant_id))
            .filter(|m| {
                conversation
                    .as_ref()
                    .is_none_or(|c| *c == m.conversation_id)
            })
            .count() as u64)
    }

    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError> {
        let mut map = self.messages.lock().map_err(poisoned)?;
        let before = map.len();
        map.retain(|_, (m, _)| !(m.tenant_id == *tenant && m.conversation_id == *conversation));
        Ok((before - map.len()) as u64)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        self.policies.lock().map_err(poisoned)?.remove(tenant);
        let mut map = self.messages.lock().map_err(poisoned)?;
        let before = map.len();
        map.retain(|_, (m, _)| m.tenant_id != *tenant);
        Ok((before - map.len()) as u64)
    }

    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        let map = self.messages.lock().map_err(poisoned)?;
        let mut line: Vec<(DateTime<Utc>, MessageId)> = map
            .values()
            .map(|(m, _)| m)
            .filter(|m| m.tenant_id == *tenant && m.conversation_id == *conversation)
            .filter(|m| !m.archived)
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
impl RetentionPolicyStore for InMemoryStore {
    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError> {
        Ok(self.policies.lock().map_err(poisoned)?.get(tenant).cloned())
    }

    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<(), RepositoryError> {
        self.policies
            .lock()
            .map_err(poisoned)?
            .insert(tenant.clone(), policy.clone());
        Ok(())
    }
}

/// A toy embedder: a bag of hashed lower-case words in 64 dimensions. Good enough to show
/// that "Python" finds "I love Python"; use a real model in production.
#[derive(Debug, Default)]
pub struct ToyEmbedder;

impl ToyEmbedder {
    const DIM: usize = 64;
}

#[async_trait]
impl Embedder for ToyEmbedder {
    fn model_id(&self) -> String {
        "toy-bag-of-words".into()
    }

    fn dimension(&self) -> usize {
        Self::DIM
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0f32; Self::DIM];
                for word in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let h = word.to_lowercase().bytes().fold(2166136261u32, |h, b| {
                        (h ^ u32::from(b)).wrapping_mul(16777619)
                    });
                    v[h as usize % Self::DIM] += 1.0;
                }
                Embedding::new(v, Self::DIM).map_err(|e| EmbedderError::Failed(e.to_string()))
            })
            .collect()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    futures::executor::block_on(async {
        let service = MemoryService::new(
            InMemoryStore::default(),
            ToyEmbedder,
            SystemClock,
            ServiceConfig::default(),
        )?;
        let all = TenantAccess::All;
        for (role, text) in [
            ("user", "I love Python programming and machine learning"),
            ("assistant", "Noted! Python it is."),
            ("user", "My sister's wedding is in Porto in June"),
        ] {
            let m = service
                .ingest(
                    NewMessage::parse("acme", "conv-123", role, text, None, None, None)?,
                    &all,
                )
                .await?;
            println!(
                "stored {} ({}, importance {:.2}, embedding {})",
                m.id,
                m.role,
                m.importance_score.value(),
                m.embedding_status
            );
        }
        let query = SearchQuery::parse(
            "acme",
            "Which programming language do I love?",
            None,
            Some(2),
            None,
            None,
        )?;
        for hit in service.search(query, &all).await?.items {
            println!(
                "{:.3} (similarity {:.3}) {}",
                hit.score, hit.similarity, hit.message.content
            );
        }
        let report = service
            .run_retention(
                RetentionRequest::parse("acme", &["archive".into(), "delete".into()], true)?,
                &all,
            )
            .await?;
        println!(
            "retention dry run: {} to archive, {} to delete",
            report.archived, report.deleted
        );
        Ok(())
    })
}
