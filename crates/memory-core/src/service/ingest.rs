//! Ingest: score, embed, store once; one message or a batch, optionally under an
//! idempotency key.

use chrono::{DateTime, Duration, Utc};

use super::{MemoryService, truncate_to_micros};
use crate::access::TenantAccess;
use crate::domain::{
    Embedding, EmbeddingStatus, IdempotencyKey, IdempotencyRecord, Message, MessageId, NewMessage,
    Outcome, TenantId, decode_outcome, encode_outcome,
};
use crate::error::{
    CoreError, EmbedderError, FieldError, RepositoryError, Result, ValidationErrors,
};
use crate::ports::{EmbedPurpose, MessageRecord};

/// How far ahead of the server's clock a client's `created_at` may be (clock skew); it is
/// then taken as now. Further ahead is a validation error.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// Most messages in one batch.
pub const MAX_BATCH_MESSAGES: usize = 1000;

/// Texts per embedder call in a batch: a few forward passes' worth, so an overloaded
/// embedder leaves the rest of the batch pending rather than failing it.
const EMBED_CHUNK: usize = 64;

/// What a batch ingest did, item by item in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    /// The stored message, or why the item was refused.
    pub items: Vec<std::result::Result<Message, ValidationErrors>>,
    /// True when this is the replay of an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// A message ready to embed: validated, scored and dated.
struct Prepared {
    new: NewMessage,
    created_at: DateTime<Utc>,
}

impl MemoryService {
    /// Embeds a message, then stores it with its embedding and analysed text in one write.
    ///
    /// `Ok` means the message is committed. Its embedding status says what the embedder did:
    /// `completed`; `pending` when the embedder was unavailable, overloaded or too slow; or
    /// `failed` when the model failed on this text. [`MemoryService::embed_pending`] retries
    /// pending and failed messages later. Nothing is acknowledged before the write, so
    /// embedding first costs nothing in durability, and one write per message (rather than an
    /// insert and then an update) halves what ingest asks of the store.
    pub async fn ingest(&self, new: NewMessage, access: &TenantAccess) -> Result<Message> {
        self.ingest_keyed(new, access, None).await
    }

    /// [`MemoryService::ingest`] under an idempotency key: the first request with the key
    /// stores the message and the key in one transaction; a retry with the same key and
    /// fingerprint gets the same message back (as it is now) without storing anything; the
    /// same key with another fingerprint is [`CoreError::IdempotencyConflict`].
    pub async fn ingest_keyed(
        &self,
        new: NewMessage,
        access: &TenantAccess,
        key: Option<&IdempotencyKey>,
    ) -> Result<Message> {
        Self::check_access(access, &new.tenant_id)?;
        let tenant = new.tenant_id.clone();
        if let Some(key) = key
            && let Some(items) = self.replay(&tenant, key).await?
        {
            return single(items);
        }
        let now = truncate_to_micros(self.clock.now());
        let prepared = self.prepare(new, now)?;
        let purpose = EmbedPurpose::Ingest(tenant.clone());
        let embedding = self
            .embed_one(prepared.new.content.as_str(), &purpose)
            .await;
        let record = self.record(prepared, now, embedding);
        let result = match key {
            None => {
                self.call("insert", self.stores.messages().insert(&record))
                    .await
            }
            Some(key) => {
                let outcome = vec![Ok(record.message.id)];
                let key_record = self.key_record(&tenant, key, now, &outcome);
                self.call(
                    "insert_batch",
                    self.stores
                        .messages()
                        .insert_batch(std::slice::from_ref(&record), Some(key_record)),
                )
                .await
            }
        };
        match (result, key) {
            (Ok(()), _) => Ok(record.message),
            (Err(RepositoryError::DuplicateKey(_)), Some(key)) => {
                single(self.replay_raced(&tenant, key).await?)
            }
            (Err(e), _) => Err(e.into()),
        }
    }

    /// Stores up to [`MAX_BATCH_MESSAGES`] messages of one tenant: every valid item is
    /// embedded (in chunks of a few forward passes; what the embedder cannot take now is
    /// stored `pending`) and all of them are stored in one transaction. Items arrive already
    /// parsed: an `Err` item (or one this service refuses, e.g. dated in the future) is
    /// reported in its place and never keeps the others out. With a key, the batch is
    /// idempotent as [`MemoryService::ingest_keyed`] is.
    pub async fn ingest_batch(
        &self,
        tenant: &TenantId,
        items: Vec<std::result::Result<NewMessage, ValidationErrors>>,
        access: &TenantAccess,
        key: Option<&IdempotencyKey>,
    ) -> Result<BatchOutcome> {
        Self::check_access(access, tenant)?;
        if items.is_empty() || items.len() > MAX_BATCH_MESSAGES {
            return Err(FieldError::new(
                "messages",
                format!(
                    "must hold 1-{MAX_BATCH_MESSAGES} messages, got {}",
                    items.len()
                ),
            )
            .into());
        }
        if let Some(key) = key
            && let Some(items) = self.replay(tenant, key).await?
        {
            return Ok(BatchOutcome {
                items,
                replayed: true,
            });
        }
        let now = truncate_to_micros(self.clock.now());
        let mut slots: Vec<std::result::Result<Option<Prepared>, ValidationErrors>> = items
            .into_iter()
            .map(|item| {
                let new = item?;
                if new.tenant_id != *tenant {
                    return Err(FieldError::new("tenant_id", "must be the batch's tenant").into());
                }
                self.prepare(new, now).map(Some).map_err(|e| match e {
                    CoreError::Validation(v) => v,
                    other => ValidationErrors(vec![FieldError::new("message", other.to_string())]),
                })
            })
            .collect();
        let texts: Vec<String> = slots
            .iter()
            .filter_map(|s| s.as_ref().ok().and_then(Option::as_ref))
            .map(|p| p.new.content.as_str().to_owned())
            .collect();
        let mut embeddings = self.embed_chunked(&texts, tenant).await.into_iter();
        let mut records = Vec::with_capacity(texts.len());
        let mut outcome: Outcome = Vec::with_capacity(slots.len());
        for slot in &mut slots {
            match slot {
                Ok(prepared) => {
                    let prepared = prepared.take().expect("each slot is taken once");
                    let embedding = embeddings.next().unwrap_or_else(|| {
                        Err(EmbedderError::unavailable("no embedding for this item").into())
                    });
                    let record = self.record(prepared, now, embedding);
                    outcome.push(Ok(record.message.id));
                    records.push(record);
                }
                Err(e) => outcome.push(Err(e.clone())),
            }
        }
        if !records.is_empty() || key.is_some() {
            let key_record = key.map(|k| self.key_record(tenant, k, now, &outcome));
            let result = self
                .call(
                    "insert_batch",
                    self.stores.messages().insert_batch(&records, key_record),
                )
                .await;
            match (result, key) {
                (Ok(()), _) => {}
                (Err(RepositoryError::DuplicateKey(_)), Some(key)) => {
                    return Ok(BatchOutcome {
                        items: self.replay_raced(tenant, key).await?,
                        replayed: true,
                    });
                }
                (Err(e), _) => return Err(e.into()),
            }
        }
        let mut stored = records.into_iter().map(|r| r.message);
        let items = outcome
            .into_iter()
            .map(|item| item.map(|_| stored.next().expect("one record per stored item")))
            .collect();
        Ok(BatchOutcome {
            items,
            replayed: false,
        })
    }

    /// Checks the date and scores the message.
    fn prepare(&self, new: NewMessage, now: DateTime<Utc>) -> Result<Prepared> {
        let created_at = match new.created_at {
            None => now,
            Some(t) if t > now + Duration::seconds(MAX_CLOCK_SKEW_SECONDS) => {
                return Err(FieldError::new("created_at", "must not be in the future").into());
            }
            Some(t) => truncate_to_micros(t.min(now)),
        };
        Ok(Prepared { new, created_at })
    }

    /// The record of a prepared message with its embedding outcome.
    fn record(
        &self,
        prepared: Prepared,
        now: DateTime<Utc>,
        embedding: Result<Embedding>,
    ) -> MessageRecord {
        let Prepared { new, created_at } = prepared;
        let importance = self
            .scorer
            .score(created_at, now, new.role, new.importance_override);
        let (embedding, embedding_status) = embedding_state(embedding);
        MessageRecord::new(Message {
            id: MessageId::new(),
            tenant_id: new.tenant_id,
            conversation_id: new.conversation_id,
            role: new.role,
            content: new.content,
            metadata: new.metadata,
            importance_score: importance,
            importance_override: new.importance_override,
            embedding,
            embedding_status,
            archived: false,
            created_at,
            updated_at: now,
        })
    }

    /// Embeds texts a chunk at a time, shortest first, and answers in the texts' order;
    /// once the embedder refuses or fails, the rest are left for the catch-up worker
    /// (pending) instead of waiting. Sorting the whole batch by length before chunking puts
    /// texts of similar length in each forward pass, so little of the model's work goes to
    /// padding (the embedder sorts only within what one call hands it).
    pub(super) async fn embed_chunked(
        &self,
        texts: &[String],
        tenant: &TenantId,
    ) -> Vec<Result<Embedding>> {
        let purpose = EmbedPurpose::Ingest(tenant.clone());
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Option<Result<Embedding>>> = texts.iter().map(|_| None).collect();
        let mut stopped = false;
        for chunk in order.chunks(EMBED_CHUNK) {
            let answer = if stopped {
                Err(EmbedderError::unavailable("an earlier chunk was refused").into())
            } else {
                let chunk_texts: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
                self.embed_many(&chunk_texts, &purpose).await
            };
            match answer {
                Ok(vectors) => {
                    for (&i, v) in chunk.iter().zip(vectors) {
                        out[i] = Some(Ok(v));
                    }
                }
                Err(_) => {
                    // A failure of the whole chunk says nothing about each text: pending,
                    // so the worker retries them one by one.
                    stopped = true;
                }
            }
        }
        out.into_iter()
            .map(|v| {
                v.unwrap_or_else(|| {
                    Err(EmbedderError::unavailable("left for the catch-up worker").into())
                })
            })
            .collect()
    }

    /// The record of a keyed write, for the store to commit with it.
    pub(super) fn key_record(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        outcome: &Outcome,
    ) -> IdempotencyRecord {
        IdempotencyRecord {
            tenant_id: tenant.clone(),
            key: key.key().to_owned(),
            fingerprint: key.fingerprint().to_owned(),
            created_at: now,
            outcome: encode_outcome(outcome),
        }
    }

    /// The answer of an earlier request with this key, if there was one: its messages as they
    /// are now. Another fingerprint is [`CoreError::IdempotencyConflict`].
    pub(super) async fn replay(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
    ) -> Result<Option<Vec<std::result::Result<Message, ValidationErrors>>>> {
        let Some(record) = self
            .call(
                "find_idempotency",
                self.stores.messages().find_idempotency(tenant, key.key()),
            )
            .await?
        else {
            return Ok(None);
        };
        if record.fingerprint != key.fingerprint() {
            return Err(CoreError::IdempotencyConflict(format!(
                "key {:?} was used for another request; use a new key for a new request",
                key.key()
            )));
        }
        let outcome = decode_outcome(&record.outcome).ok_or_else(|| {
            RepositoryError::internal(format!("unreadable idempotency record {:?}", key.key()))
        })?;
        let mut items = Vec::with_capacity(outcome.len());
        for item in outcome {
            items.push(match item {
                Ok(id) => match self.call("get", self.stores.messages().get(id)).await? {
                    Some(mut m) => {
                        m.embedding = None;
                        Ok(m)
                    }
                    None => Err(FieldError::new(
                        "message_id",
                        format!("message {id} was deleted after the original request"),
                    )
                    .into()),
                },
                Err(e) => Err(e),
            });
        }
        Ok(Some(items))
    }

    /// The replay after losing a race for the key to a concurrent request.
    pub(super) async fn replay_raced(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
    ) -> Result<Vec<std::result::Result<Message, ValidationErrors>>> {
        self.replay(tenant, key).await?.ok_or_else(|| {
            RepositoryError::internal("idempotency key taken but its record is missing").into()
        })
    }

    /// Deletes idempotency records older than the configured time to live; returns how many.
    pub async fn purge_idempotency(&self) -> Result<u64> {
        let before = self.clock.now() - self.idempotency_ttl;
        Ok(self
            .call(
                "purge_idempotency",
                self.stores.messages().purge_idempotency(before),
            )
            .await?)
    }
}

/// The embedding and status an embedding outcome gives a message.
pub(super) fn embedding_state(
    embedding: Result<Embedding>,
) -> (Option<Embedding>, EmbeddingStatus) {
    match embedding {
        Ok(e) => (Some(e), EmbeddingStatus::Completed),
        Err(CoreError::Embedder(EmbedderError::Failed { .. })) => (None, EmbeddingStatus::Failed),
        Err(_) => (None, EmbeddingStatus::Pending),
    }
}

/// The one message of a single-message replay.
pub(super) fn single(
    items: Vec<std::result::Result<Message, ValidationErrors>>,
) -> Result<Message> {
    match items.into_iter().next() {
        Some(Ok(m)) => Ok(m),
        Some(Err(_)) => Err(CoreError::NotFound(
            "the message created under this Idempotency-Key (deleted since)".into(),
        )),
        None => Err(RepositoryError::internal("empty idempotency record").into()),
    }
}
