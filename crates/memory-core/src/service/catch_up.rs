//! Catching up on what ingest could not finish: embeddings left pending or failed, and
//! analysed text missing from messages stored before lexical search existed.

use std::time::Duration;

use crate::domain::Message;
use crate::error::{CoreError, EmbedderError, Result};
use crate::ports::{EmbedPurpose, EmbeddingUpdate};
use crate::text::Analyzer;

use super::{MemoryService, truncate_to_micros};

/// How long the catch-up worker's batch is claimed (on stores shared by several processes):
/// ample for one batch, which the model embeds or refuses within its backlog budget (2 s by
/// default); a worker that dies with a claim delays its batch by this much at most.
pub const CLAIM: Duration = Duration::from_secs(15);

impl MemoryService {
    /// Embeds up to `limit` messages left pending or failed (by a crash or an embedder
    /// failure), in one batch. Returns how many were completed.
    ///
    /// When the batch fails on its input ([`EmbedderError::Failed`]) the messages are embedded
    /// one at a time, so one text the model cannot take does not hold back the rest: it is
    /// marked failed (and retried on later rounds) while the others complete. An embedder
    /// that is unavailable or overloaded fails the round instead (retry later, with backoff).
    pub async fn embed_pending(&self, limit: usize) -> Result<usize> {
        let pending = self
            .call(
                "claim_pending",
                self.stores.messages().claim_pending(limit, CLAIM),
            )
            .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let texts: Vec<String> = pending
            .iter()
            .map(|m| m.content.as_str().to_owned())
            .collect();
        let dimension = self.embedder.dimension();
        let embeddings = match self
            .embedder
            .embed_for(&texts, &EmbedPurpose::Backlog)
            .await
        {
            Ok(e) if e.len() == pending.len() && e.iter().all(|e| e.dimension() == dimension) => e,
            Ok(_) => {
                return Err(EmbedderError::failed(
                    "embedder returned the wrong number or size of embeddings",
                )
                .into());
            }
            Err(EmbedderError::Failed { .. }) if pending.len() > 1 => {
                return self.embed_one_by_one(&pending).await;
            }
            Err(e) => return Err(e.into()),
        };
        let at = truncate_to_micros(self.clock.now());
        let mut done = 0;
        for (m, e) in pending.iter().zip(embeddings) {
            let update = EmbeddingUpdate::Completed(e);
            if self
                .call(
                    "set_embedding",
                    self.stores
                        .messages()
                        .set_embedding(m.id, update, m.updated_at, at),
                )
                .await?
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// [`Self::embed_pending`]'s fallback after a failed batch.
    async fn embed_one_by_one(&self, pending: &[Message]) -> Result<usize> {
        let mut done = 0;
        for m in pending {
            let update = match self
                .embed_one(m.content.as_str(), &EmbedPurpose::Backlog)
                .await
            {
                Ok(e) => EmbeddingUpdate::Completed(e),
                Err(CoreError::Embedder(EmbedderError::Failed { .. })) => EmbeddingUpdate::Failed,
                Err(e) => return Err(e),
            };
            let completed = matches!(update, EmbeddingUpdate::Completed(_));
            let at = truncate_to_micros(self.clock.now());
            let found = self
                .call(
                    "set_embedding",
                    self.stores
                        .messages()
                        .set_embedding(m.id, update, m.updated_at, at),
                )
                .await?;
            if found && completed {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Analyses up to `limit` messages the store holds without analysed text (written by a
    /// binary older than lexical search) and stores their terms, so lexical search finds
    /// them. Returns how many were analysed; 0 on a store without lexical search. The
    /// analyzer runs here, never in a store.
    pub async fn analyze_unanalyzed(&self, limit: usize) -> Result<usize> {
        let Some(store) = self.stores.lexical() else {
            return Ok(0);
        };
        let rows = self.call("unanalyzed", store.unanalyzed(limit)).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let analyzer = Analyzer::english();
        let analysed: Vec<_> = rows
            .into_iter()
            .map(|(id, content)| (id, analyzer.analyze(content.as_str())))
            .collect();
        let stored = self
            .call("store_analysis", store.store_analysis(&analysed))
            .await?;
        Ok(usize::try_from(stored).unwrap_or(usize::MAX))
    }

    /// [`Self::analyze_unanalyzed`] until nothing is left: what a server runs before it
    /// serves, so an upgraded store is searchable at once. Returns how many were analysed.
    pub async fn analyze_all(&self) -> Result<usize> {
        const BATCH: usize = 1000;
        let mut total = 0;
        loop {
            let n = self.analyze_unanalyzed(BATCH).await?;
            total += n;
            if n < BATCH {
                return Ok(total);
            }
        }
    }
}
