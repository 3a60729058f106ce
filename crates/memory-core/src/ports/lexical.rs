//! [`LexicalSearch`]: messages that share the query's words, and the analysed-text index
//! behind it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use async_trait::async_trait;

use crate::domain::{Content, ConversationId, Filters, Importance, Message, MessageId, TenantId};
use crate::error::RepositoryError;
use crate::text::{AnalyzedText, Bm25, LexicalScorer};

/// What [`LexicalSearch::lexical_candidates`] looks for.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalQuery {
    /// Mandatory: only this tenant's messages.
    pub tenant_id: TenantId,
    /// Optional: only this conversation's messages.
    pub conversation_id: Option<ConversationId>,
    /// Optional: only messages with `importance_score >= importance_min`.
    pub importance_min: Option<Importance>,
    /// Distinct terms from [`crate::text::Analyzer::query_terms`]; a document matches when it
    /// contains at least one.
    pub terms: Vec<String>,
    /// The BM25 parameters the matches are ranked with.
    pub bm25: Bm25,
    /// At most this many documents.
    pub limit: usize,
    /// Optional: a time range and metadata conditions the matches must satisfy. The scope's
    /// size and average length stay those of the tenant or conversation; document
    /// frequencies count the matches that pass (what [`rank_matches`] computes).
    pub filters: Filters,
}

/// A message that matched a lexical query, with its analysed text.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalDocument {
    /// The message, with its embedding when it has one.
    pub message: Message,
    /// The [`AnalyzedText::terms`] stored with it: space-separated terms.
    pub terms: String,
}

/// The answer to a lexical query: the best matches plus the scope statistics BM25 needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LexicalMatches {
    /// Number of messages in the scope (tenant, conversation, importance filter, not archived).
    pub scope_size: u64,
    /// Average number of terms of those messages.
    pub average_length: f64,
    /// For each query term, in the query's order: how many messages of the whole scope
    /// contain it (not only of the documents returned).
    pub document_frequencies: Vec<u64>,
    /// The best `limit` matches, best first (see [`LexicalSearch`]).
    pub documents: Vec<LexicalDocument>,
}

impl LexicalMatches {
    /// The scorer these statistics define for `query`: what ranks the matches.
    pub fn scorer(&self, query: &LexicalQuery) -> LexicalScorer {
        LexicalScorer::new(
            query.bm25,
            &query.terms,
            &self.document_frequencies,
            self.scope_size,
            self.average_length,
        )
    }
}

/// Lexical search over the analysed text the service stored with each message
/// ([`super::MessageRecord::terms`]).
///
/// Contract (checked by [`crate::testkit`], module `lexical`):
/// - A match is a non-archived message of the scope (whatever its embedding status) whose
///   analysed text contains at least one query term. No terms: no documents.
/// - `scope_size`, `average_length` and `document_frequencies` describe the whole scope,
///   matching or not (with `filters`: document frequencies count the matches that pass).
/// - With `filters`, only matches that pass them ([`Filters::admits`]) are ranked.
/// - `documents` are the `limit` best matches by [`LexicalMatches::scorer`] (the core's
///   BM25 with those statistics), best first, ties by id ascending: so the results are the
///   same on every store, however many messages match. A store that finds all matches can
///   pick them with [`rank_matches`].
/// - `unanalyzed` lists messages stored without analysed text (by a binary older than
///   lexical search), and `store_analysis` records the text the service analysed for them.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait LexicalSearch: Send + Sync + 'static {
    /// The best lexical matches in the scope; see the trait's contract.
    async fn lexical_candidates(
        &self,
        query: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError>;
    /// Up to `limit` messages (of any tenant) that have no analysed text yet.
    async fn unanalyzed(&self, limit: usize) -> Result<Vec<(MessageId, Content)>, RepositoryError>;
    /// Stores analysed text for messages that had none; returns how many were updated.
    async fn store_analysis(
        &self,
        analysed: &[(MessageId, AnalyzedText)],
    ) -> Result<u64, RepositoryError>;
}

/// Every match of a query, ranked: what a store that finds all matches returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RankedMatches<T> {
    /// For each query term: how many of the matches contain it. Every message of the scope
    /// that contains a query term is a match, so this is the scope's document frequency.
    pub document_frequencies: Vec<u64>,
    /// The best `query.limit` matches, best first, ties by id ascending, with their payload.
    pub best: Vec<(MessageId, T)>,
}

/// Ranks every match of `query` (each an id, its analysed terms and a payload) by the core's
/// BM25 over the scope's statistics and keeps the best `query.limit`, as the
/// [`LexicalSearch`] contract asks. `matches` must hold every match of the scope.
pub fn rank_matches<T>(
    query: &LexicalQuery,
    scope_size: u64,
    average_length: f64,
    matches: Vec<(MessageId, String, T)>,
) -> RankedMatches<T> {
    let mut df = vec![0u64; query.terms.len()];
    let mut distinct: HashSet<&str> = HashSet::new();
    for (_, terms, _) in &matches {
        distinct.clear();
        distinct.extend(terms.split(' ').filter(|t| !t.is_empty()));
        for (i, term) in query.terms.iter().enumerate() {
            if distinct.contains(term.as_str()) {
                df[i] += 1;
            }
        }
    }
    let scope_size = scope_size.max(matches.len() as u64);
    let scorer = LexicalScorer::new(query.bm25, &query.terms, &df, scope_size, average_length);
    let mut heap: BinaryHeap<Ranked<T>> = BinaryHeap::with_capacity(query.limit + 1);
    if query.limit > 0 {
        for (id, terms, payload) in matches {
            let score = scorer.score(&terms);
            heap.push(Ranked { score, id, payload });
            if heap.len() > query.limit {
                heap.pop();
            }
        }
    }
    let best = heap
        .into_sorted_vec()
        .into_iter()
        .map(|r| (r.id, r.payload))
        .collect();
    RankedMatches {
        document_frequencies: df,
        best,
    }
}

/// A scored match, ordered so that the *worst* is the greatest: a max-heap of these keeps
/// the best, and `into_sorted_vec` lists them best first.
struct Ranked<T> {
    score: f64,
    id: MessageId,
    payload: T,
}

impl<T> Ranked<T> {
    fn key(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl<T> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key(other) == Ordering::Equal
    }
}

impl<T> Eq for Ranked<T> {}

impl<T> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(terms: &[&str], limit: usize) -> LexicalQuery {
        LexicalQuery {
            tenant_id: TenantId::parse("t").expect("valid"),
            conversation_id: None,
            importance_min: None,
            terms: terms.iter().map(|t| (*t).to_owned()).collect(),
            bm25: Bm25::new(1.2, 0.0).expect("valid"),
            limit,
            filters: Default::default(),
        }
    }

    #[test]
    fn best_first_ties_by_id_and_whole_scope_frequencies() {
        let mut ids: Vec<MessageId> = (0..5).map(|_| MessageId::new()).collect();
        ids.sort();
        let matches = vec![
            (ids[0], "cat".to_owned(), 0),
            (ids[1], "cat cat dog".to_owned(), 1),
            (ids[2], "dog".to_owned(), 2),
            (ids[3], "cat".to_owned(), 3),
            (ids[4], "bird cat".to_owned(), 4),
        ];
        let ranked = rank_matches(&query(&["cat", "dog"], 3), 10, 2.0, matches);
        assert_eq!(ranked.document_frequencies, [4, 2]);
        let best: Vec<usize> = ranked.best.iter().map(|(_, p)| *p).collect();
        // cat+dog twice beats dog alone (rarer), which beats cat alone; equal "cat" scores
        // tie by id, and ids are time-ordered.
        assert_eq!(best, [1, 2, 0]);
        assert!(
            rank_matches(
                &query(&["cat"], 0),
                1,
                1.0,
                vec![(ids[0], "cat".into(), ())]
            )
            .best
            .is_empty()
        );
    }
}
