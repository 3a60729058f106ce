//! Hybrid relevance: dense nearest neighbours and lexical (BM25) matches, fused.

use std::collections::HashMap;

use crate::domain::{Embedding, Message, MessageId};
use crate::error::FieldError;
use crate::ports::LexicalMatches;
use crate::scoring::Candidate;
use crate::text::Bm25;

/// Tunables of hybrid search. Defaults were chosen on the LoCoMo dev split (docs/scoring.md).
#[derive(Debug, Clone, PartialEq)]
pub struct HybridConfig {
    /// Weight of the lexical score in the relevance; the dense part gets `1 - lexical_weight`.
    pub lexical_weight: f64,
    /// BM25 parameters.
    pub bm25: Bm25,
    /// Most lexical matches fetched per query.
    pub lexical_limit: usize,
}

impl Default for HybridConfig {
    fn default() -> Self {
        Self {
            lexical_weight: 0.5,
            bm25: Bm25::default(),
            lexical_limit: 1000,
        }
    }
}

impl HybridConfig {
    /// `lexical_weight` in [0, 1], BM25 parameters finite and non-negative, a positive limit.
    pub fn validate(&self) -> Result<(), FieldError> {
        if !(0.0..=1.0).contains(&self.lexical_weight) {
            return Err(FieldError::new("lexical_weight", "must be between 0 and 1"));
        }
        if !self.bm25.k1.is_finite() || self.bm25.k1 < 0.0 || !(0.0..=1.0).contains(&self.bm25.b) {
            return Err(FieldError::new(
                "bm25",
                "k1 must be >= 0 and b between 0 and 1",
            ));
        }
        if self.lexical_limit == 0 {
            return Err(FieldError::new("lexical_limit", "must be at least 1"));
        }
        Ok(())
    }
}

/// A candidate with its fused relevance.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    /// The message.
    pub message: Message,
    /// Cosine similarity to the query (0 for a message without an embedding yet).
    pub similarity: f64,
    /// Normalised BM25 score in [0, 1] (0 when the message matched no query term).
    pub lexical: Option<f64>,
    /// The fused relevance in [0, 1].
    pub relevance: f64,
}

/// Fuses dense candidates and lexical matches over their union:
///
/// ```text
/// lexical   = bm25 / max bm25 over the union                  (0 without a term match)
/// dense     = (cos - min cos) / (max cos - min cos) over the union
/// relevance = w * lexical + (1 - w) * dense
/// ```
///
/// BM25 uses the scope's size and average length from the store and document frequencies
/// counted over the matches (exact while the matches are not truncated by the limit).
pub fn fuse(
    dense: Vec<Candidate>,
    lexical: LexicalMatches,
    query_terms: &[String],
    query_embedding: &Embedding,
    config: &HybridConfig,
) -> Vec<Fused> {
    let n = lexical.scope_size.max(lexical.documents.len() as u64) as f64;
    let split: Vec<Vec<String>> = lexical
        .documents
        .iter()
        .map(|d| {
            d.terms
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect();
    let idf: Vec<(String, f64)> = query_terms
        .iter()
        .map(|t| {
            let df = split.iter().filter(|d| d.contains(t)).count() as f64;
            (t.clone(), Bm25::idf(n, df))
        })
        .collect();
    let mut by_id: HashMap<MessageId, Fused> = HashMap::new();
    for c in dense {
        by_id.insert(
            c.message.id,
            Fused {
                similarity: c.similarity,
                lexical: None,
                relevance: 0.0,
                message: c.message,
            },
        );
    }
    let mut bm25: HashMap<MessageId, f64> = HashMap::new();
    for (doc, terms) in lexical.documents.into_iter().zip(&split) {
        let terms: Vec<&str> = terms.iter().map(String::as_str).collect();
        let score = config.bm25.score(&idf, &terms, lexical.average_length);
        bm25.insert(doc.message.id, score);
        by_id.entry(doc.message.id).or_insert_with(|| {
            let similarity = doc
                .message
                .embedding
                .as_ref()
                .map_or(0.0, |e| f64::from(e.cosine(query_embedding)));
            Fused {
                similarity,
                lexical: None,
                relevance: 0.0,
                message: doc.message,
            }
        });
    }
    let max_bm25 = bm25.values().copied().fold(0.0, f64::max);
    let (min_cos, max_cos) = by_id
        .values()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), f| {
            (lo.min(f.similarity), hi.max(f.similarity))
        });
    let span = max_cos - min_cos;
    let w = config.lexical_weight;
    by_id
        .into_values()
        .map(|mut f| {
            let lex = match bm25.get(&f.message.id) {
                Some(s) if max_bm25 > 0.0 => s / max_bm25,
                _ => 0.0,
            };
            let dense = if span > 1e-12 {
                (f.similarity - min_cos) / span
            } else {
                1.0
            };
            f.lexical = Some(lex);
            f.relevance = w * lex + (1.0 - w) * dense;
            f
        })
        .collect()
}
