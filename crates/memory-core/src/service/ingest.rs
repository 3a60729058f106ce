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
        let record = self.record(MessageId::new(), prepared, now, embedding);
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
    /// stored `pending`) and all of them are stored in one transaction, each chunk handed to
    /// the store as soon as it is embedded ([`crate::ports::MessageStore::insert_parts`]).
    /// Items arrive already parsed: an `Err` item (or one this service refuses, e.g. dated in the future) is
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
        // Ids are drawn now, in request order, so that the outcome (and the idempotency record
        // that carries it) is known before anything is embedded.
        let mut prepared: Vec<(MessageId, Prepared)> = Vec::with_capacity(items.len());
        let outcome: Outcome = items
            .into_iter()
            .map(|item| {
                let new = item?;
                if new.tenant_id != *tenant {
                    return Err(FieldError::new("tenant_id", "must be the batch's tenant").into());
                }
                let p = self.prepare(new, now).map_err(|e| match e {
                    CoreError::Validation(v) => v,
                    other => ValidationErrors(vec![FieldError::new("message", other.to_string())]),
                })?;
                let id = MessageId::new();
                prepared.push((id, p));
                Ok(id)
            })
            .collect();
        let mut stored: Vec<Message> = Vec::new();
        if !prepared.is_empty() || key.is_some() {
            let key_record = key.map(|k| self.key_record(tenant, k, now, &outcome));
            // The store writes each embedded chunk while the next one is embedded (one
            // transaction): its work overlaps the model's instead of following it.
            let (parts, received) = futures::channel::mpsc::channel(0);
            let (messages, result) = futures::join!(
                self.embed_parts(prepared, now, tenant, parts),
                self.call(
                    "insert_parts",
                    self.stores
                        .messages()
                        .insert_parts(Box::pin(received), key_record),
                ),
            );
            match (result, key) {
                (Ok(()), _) => stored = messages,
                (Err(RepositoryError::DuplicateKey(_)), Some(key)) => {
                    return Ok(BatchOutcome {
                        items: self.replay_raced(tenant, key).await?,
                        replayed: true,
                    });
                }
                (Err(e), _) => return Err(e.into()),
            }
        }
        let mut stored = stored.into_iter();
        let items = outcome
            .into_iter()
            .map(|item| item.map(|_| stored.next().expect("one message per stored item")))
            .collect();
        Ok(BatchOutcome {
            items,
            replayed: false,
        })
    }

    /// Embeds prepared messages a chunk at a time ([`Self::embedded_chunks`]) and sends each
    /// chunk's records to the store as soon as they are ready; stops early when the store
    /// stops reading. Returns the messages in the order given.
    async fn embed_parts(
        &self,
        prepared: Vec<(MessageId, Prepared)>,
        now: DateTime<Utc>,
        tenant: &TenantId,
        mut parts: futures::channel::mpsc::Sender<Vec<MessageRecord>>,
    ) -> Vec<Message> {
        use futures::{SinkExt as _, StreamExt as _};
        let texts = prepared
            .iter()
            .map(|(_, p)| p.new.content.as_str().to_owned())
            .collect();
        let mut slots: Vec<Option<(MessageId, Prepared)>> =
            prepared.into_iter().map(Some).collect();
        let mut out: Vec<Option<Message>> = slots.iter().map(|_| None).collect();
        let deadline = self.batch_embed_budget.map(|budget| now + budget);
        let mut chunks = std::pin::pin!(self.embedded_chunks(texts, tenant, deadline));
        while let Some((chunk, embeddings)) = chunks.next().await {
            let records: Vec<MessageRecord> = chunk
                .iter()
                .zip(embeddings)
                .map(|(&i, embedding)| {
                    let (id, p) = slots[i].take().expect("each message is in one chunk");
                    let record = self.record(id, p, now, embedding);
                    out[i] = Some(record.message.clone());
                    record
                })
                .collect();
            if parts.send(records).await.is_err() {
                break; // The store failed: nothing of this batch is stored.
            }
        }
        out.into_iter().flatten().collect()
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
        id: MessageId,
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
            id,
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

    /// Embeds texts a chunk at a time and answers in the texts' order ([`Self::embedded_chunks`]).
    pub(super) async fn embed_chunked(
        &self,
        texts: &[String],
        tenant: &TenantId,
    ) -> Vec<Result<Embedding>> {
        use futures::StreamExt as _;
        let mut out: Vec<Option<Result<Embedding>>> = texts.iter().map(|_| None).collect();
        let mut chunks = std::pin::pin!(self.embedded_chunks(texts.to_vec(), tenant, None));
        while let Some((chunk, answers)) = chunks.next().await {
            for (i, answer) in chunk.into_iter().zip(answers) {
                out[i] = Some(answer);
            }
        }
        out.into_iter()
            .map(|v| v.expect("every text is in one chunk"))
            .collect()
    }

    /// The texts' embeddings a chunk at a time, shortest texts first: each item is a chunk's
    /// indexes into `texts` and one answer per index. Sorting the whole batch by length before
    /// chunking puts texts of similar length in each forward pass, so little of the model's
    /// work goes to padding (the embedder sorts only within what one call hands it). Once the
    /// embedder refuses or fails a chunk, that chunk and every later one are left for the
    /// catch-up worker (pending) instead of waiting: a failure of the whole chunk says nothing
    /// about each text, so the worker retries them one by one. So are the chunks that would
    /// end past `deadline` (by the clock, judged by the slowest chunk so far).
    fn embedded_chunks(
        &self,
        texts: Vec<String>,
        tenant: &TenantId,
        deadline: Option<DateTime<Utc>>,
    ) -> impl futures::Stream<Item = (Vec<usize>, Vec<Result<Embedding>>)> + '_ {
        let purpose = EmbedPurpose::Ingest(tenant.clone());
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let chunks: Vec<Vec<usize>> = order.chunks(EMBED_CHUNK).map(<[usize]>::to_vec).collect();
        let state = ChunkState {
            chunks: chunks.into_iter(),
            texts,
            purpose,
            deadline,
            slowest: Duration::zero(),
            stopped: false,
        };
        futures::stream::unfold(state, move |mut state| async move {
            let chunk = state.chunks.next()?;
            let chunk_texts: Vec<String> = chunk.iter().map(|&i| state.texts[i].clone()).collect();
            // The clock is read only under a deadline.
            let started = state.deadline.map(|deadline| (deadline, self.clock.now()));
            if let Some((deadline, started)) = started
                && started + state.slowest > deadline
            {
                state.stopped = true;
            }
            let answers = match state.stopped {
                false => self.embed_many(&chunk_texts, &state.purpose).await.ok(),
                true => None,
            };
            if let Some((_, started)) = started {
                state.slowest = state.slowest.max(self.clock.now() - started);
            }
            state.stopped = answers.is_none();
            let answers = match answers {
                Some(vectors) => vectors.into_iter().map(Ok).collect(),
                None => chunk_texts
                    .iter()
                    .map(|_| Err(EmbedderError::unavailable("left for the catch-up worker").into()))
                    .collect(),
            };
            Some(((chunk, answers), state))
        })
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

/// Where [`MemoryService::embedded_chunks`] stands.
struct ChunkState {
    chunks: std::vec::IntoIter<Vec<usize>>,
    texts: Vec<String>,
    purpose: EmbedPurpose,
    deadline: Option<DateTime<Utc>>,
    /// The longest a chunk has taken so far: the guess for the next one.
    slowest: Duration,
    /// Once true, every later chunk is left pending.
    stopped: bool,
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
