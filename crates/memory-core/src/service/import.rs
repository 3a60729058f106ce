//! Import: messages exported from a store, stored again as they were (same ids, dates,
//! importance, archived flag), in batches that a re-run replays instead of storing twice.

use super::MemoryService;
use crate::domain::{EmbeddingStatus, IdempotencyKey, Message, TenantId};
use crate::error::{CoreError, FieldError, RepositoryError, Result};
use crate::ports::MessageRecord;

/// What one import batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOutcome {
    /// Messages stored by this call.
    pub stored: usize,
    /// Messages that were there already (a re-run of an interrupted import): skipped.
    pub skipped: usize,
}

impl MemoryService {
    /// Stores up to [`super::MAX_BATCH_MESSAGES`] messages of one tenant exactly as exported
    /// (an admin operation: ids, `created_at`, `updated_at`, importance and the archived flag
    /// are kept). A message exported with its embedding keeps it; one exported `completed`
    /// without it is embedded again (left `pending` if the embedder cannot take it now); a
    /// `pending` or `failed` one stays so, for the catch-up worker. The batch is one
    /// transaction with its idempotency record: a retry with the same key stores nothing.
    /// Messages that exist already are skipped, so an import interrupted after its keys
    /// expired can still be re-run.
    pub async fn import(
        &self,
        messages: Vec<Message>,
        key: Option<&IdempotencyKey>,
    ) -> Result<ImportOutcome> {
        let Some(tenant) = messages.first().map(|m| m.tenant_id.clone()) else {
            return Ok(ImportOutcome::default());
        };
        if messages.len() > super::MAX_BATCH_MESSAGES {
            return Err(FieldError::new(
                "messages",
                format!("at most {} per import batch", super::MAX_BATCH_MESSAGES),
            )
            .into());
        }
        if messages.iter().any(|m| m.tenant_id != tenant) {
            return Err(FieldError::new("tenant_id", "an import batch holds one tenant").into());
        }
        if let Some(key) = key
            && let Some(items) = self.replay(&tenant, key).await?
        {
            return Ok(ImportOutcome {
                stored: 0,
                skipped: items.len(),
            });
        }
        let dim = self.embedder.dimension();
        let mut messages = messages;
        for m in &mut messages {
            if let Some(e) = &m.embedding {
                if e.dimension() != dim {
                    return Err(CoreError::DimensionMismatch {
                        store: dim,
                        embedder: e.dimension(),
                    });
                }
                m.embedding_status = EmbeddingStatus::Completed;
            }
        }
        let to_embed: Vec<usize> = (0..messages.len())
            .filter(|&i| {
                messages[i].embedding.is_none()
                    && messages[i].embedding_status == EmbeddingStatus::Completed
            })
            .collect();
        let texts: Vec<String> = to_embed
            .iter()
            .map(|&i| messages[i].content.as_str().to_owned())
            .collect();
        for (&i, embedding) in to_embed
            .iter()
            .zip(self.embed_chunked(&texts, &tenant).await)
        {
            let (embedding, status) = super::ingest::embedding_state(embedding);
            messages[i].embedding = embedding;
            messages[i].embedding_status = status;
        }
        self.store_import(&tenant, messages, key).await
    }

    async fn store_import(
        &self,
        tenant: &TenantId,
        messages: Vec<Message>,
        key: Option<&IdempotencyKey>,
    ) -> Result<ImportOutcome> {
        let now = crate::service::truncate_to_micros(self.clock.now());
        let records: Vec<MessageRecord> = messages.into_iter().map(MessageRecord::new).collect();
        let outcome = records.iter().map(|r| Ok(r.message.id)).collect();
        let key_record = key.map(|k| self.key_record(tenant, k, now, &outcome));
        match self
            .call(
                "insert_batch",
                self.stores.messages().insert_batch(&records, key_record),
            )
            .await
        {
            Ok(()) => Ok(ImportOutcome {
                stored: records.len(),
                skipped: 0,
            }),
            Err(RepositoryError::DuplicateKey(_)) => Ok(ImportOutcome {
                stored: 0,
                skipped: records.len(),
            }),
            Err(RepositoryError::Conflict(_)) => {
                // Some of them exist already: store the others, one batch without a key.
                let mut fresh = Vec::with_capacity(records.len());
                for r in records {
                    if self
                        .call("get", self.stores.messages().get(r.message.id))
                        .await?
                        .is_none()
                    {
                        fresh.push(r);
                    }
                }
                let skipped = outcome.len() - fresh.len();
                self.call(
                    "insert_batch",
                    self.stores.messages().insert_batch(&fresh, None),
                )
                .await?;
                Ok(ImportOutcome {
                    stored: fresh.len(),
                    skipped,
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}
