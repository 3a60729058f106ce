//! Search: vector, hybrid (the default) or lexical.

use crate::access::TenantAccess;
use crate::domain::{Embedding, Filters, Message, SearchMode, SearchQuery, SearchResults};
use crate::error::{CoreError, EmbedderError, Result};
use crate::ports::{CandidateQuery, EmbedPurpose, LexicalMatches, LexicalQuery};
use crate::scoring::{NamedPeriod, fuse};
use crate::text::Analyzer;

use super::MemoryService;

impl MemoryService {
    /// Finds the most relevant messages. Vector mode: the store's nearest neighbours over the
    /// whole scope, ranked by `w_sim*similarity + w_imp*importance + w_decay*decay`. Hybrid
    /// mode (the default): nearest neighbours plus lexical matches, fused into a relevance
    /// that takes similarity's place in the formula (see `docs/scoring.md`). Lexical mode:
    /// the lexical matches alone, without embedding the query.
    ///
    /// A hybrid search whose query cannot be embedded because the embedder is unavailable or
    /// overloaded runs in lexical mode instead, and says so in [`SearchResults::mode`]:
    /// memories stay findable by their words while the model is down. On a store without
    /// lexical search, hybrid search runs on vectors alone and lexical mode is
    /// [`CoreError::Unsupported`]. The query's [`Filters`] (time range, metadata) go to the
    /// stores with the candidate queries.
    pub async fn search(&self, query: SearchQuery, access: &TenantAccess) -> Result<SearchResults> {
        Self::check_access(access, &query.tenant_id)?;
        let requested = query.mode.unwrap_or(self.default_mode);
        let lexical_store = self.stores.lexical();
        if requested == SearchMode::Lexical && lexical_store.is_none() {
            return Err(CoreError::Unsupported("lexical search"));
        }
        let requested = match requested {
            SearchMode::Hybrid if lexical_store.is_none() => SearchMode::Vector,
            other => other,
        };
        let embedding = match requested {
            SearchMode::Lexical => None,
            SearchMode::Vector => Some(self.embed_one(&query.query, &EmbedPurpose::Query).await?),
            SearchMode::Hybrid => match self.embed_one(&query.query, &EmbedPurpose::Query).await {
                Ok(e) => Some(e),
                Err(CoreError::Embedder(
                    EmbedderError::Unavailable { .. } | EmbedderError::Overloaded { .. },
                )) => None,
                Err(e) => return Err(e),
            },
        };
        let pending = self.call(
            "count_pending",
            self.stores
                .messages()
                .count_pending(Some(query.tenant_id.clone()), query.conversation_id.clone()),
        );
        let dense_query = |embedding: &Embedding| CandidateQuery {
            tenant_id: query.tenant_id.clone(),
            conversation_id: query.conversation_id.clone(),
            importance_min: query.importance_min,
            embedding: embedding.clone(),
            limit: query.candidate_limit,
            filters: query.filters.clone(),
        };
        let min_relevance = query
            .min_relevance
            .unwrap_or(self.ranker.config().min_relevance())
            .value();
        let (mode, ranked, pending) = match (requested, embedding, lexical_store) {
            (SearchMode::Vector, Some(embedding), _) | (_, Some(embedding), None) => {
                let dense_query = dense_query(&embedding);
                let (candidates, pending) = futures::join!(
                    self.call(
                        "search_candidates",
                        self.stores.vectors().search_candidates(&dense_query)
                    ),
                    pending
                );
                let now = self.clock.now();
                let candidates = admitted(candidates?, &query.filters, |c| &c.message);
                let ranked = self
                    .ranker
                    .rank(candidates, now, query.top_k, min_relevance);
                (SearchMode::Vector, ranked, pending)
            }
            (_, None, None) => return Err(CoreError::Unsupported("lexical search")),
            (_, embedding, Some(lexical_store)) => {
                let terms = Analyzer::english().query_terms(&query.query);
                let lexical_query = LexicalQuery {
                    tenant_id: query.tenant_id.clone(),
                    conversation_id: query.conversation_id.clone(),
                    importance_min: query.importance_min,
                    terms: terms.clone(),
                    bm25: self.hybrid.bm25(),
                    limit: self.hybrid.lexical_limit(),
                    filters: query.filters.clone(),
                };
                let lexical = async {
                    if terms.is_empty() {
                        Ok(LexicalMatches::default())
                    } else {
                        self.call(
                            "lexical_candidates",
                            lexical_store.lexical_candidates(&lexical_query),
                        )
                        .await
                    }
                };
                let dense = async {
                    match &embedding {
                        Some(e) => {
                            self.call(
                                "search_candidates",
                                self.stores.vectors().search_candidates(&dense_query(e)),
                            )
                            .await
                        }
                        None => Ok(Vec::new()),
                    }
                };
                // Neighbours in a conversation-scoped search are true neighbours in time.
                let timeline = async {
                    match (&query.conversation_id, self.stores.timeline()) {
                        (Some(c), Some(store)) => {
                            self.call(
                                "conversation_timeline",
                                store.conversation_timeline(
                                    &query.tenant_id,
                                    c,
                                    self.hybrid.timeline_limit(),
                                ),
                            )
                            .await
                        }
                        _ => Ok(None),
                    }
                };
                let (dense, lexical, timeline, pending) =
                    futures::join!(dense, lexical, timeline, pending);
                let timeline = timeline?;
                let mut lexical = lexical?;
                lexical.documents = admitted(lexical.documents, &query.filters, |d| &d.message);
                let fused = fuse(
                    admitted(dense?, &query.filters, |c| &c.message),
                    lexical,
                    &terms,
                    embedding.as_ref(),
                    timeline.as_deref(),
                    NamedPeriod::in_query(&query.query, Analyzer::english()).as_ref(),
                    &self.hybrid,
                );
                let now = self.clock.now();
                let ranked = self
                    .ranker
                    .rank_fused(fused, now, query.top_k, min_relevance);
                let mode = if embedding.is_some() {
                    SearchMode::Hybrid
                } else {
                    SearchMode::Lexical
                };
                (mode, ranked, pending)
            }
        };
        Ok(SearchResults {
            items: ranked.hits,
            mode,
            pending_embeddings: pending?,
            min_relevance,
            below_min_relevance: ranked.below_min_relevance,
        })
    }
}

/// What passes the filters. Stores apply them in their queries (the contract); this keeps a
/// store that did not from ever returning what the caller excluded.
fn admitted<T>(items: Vec<T>, filters: &Filters, message: impl Fn(&T) -> &Message) -> Vec<T> {
    if filters.is_empty() {
        return items;
    }
    items
        .into_iter()
        .filter(|i| {
            let m = message(i);
            filters.admits(m.created_at, &m.metadata)
        })
        .collect()
}
