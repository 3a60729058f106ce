//! Hybrid relevance: dense nearest neighbours and lexical (BM25) matches, fused.

use std::collections::HashMap;

use crate::domain::{Embedding, Message, MessageId};
use crate::error::FieldError;
use crate::ports::{Candidate, LexicalMatches};
use crate::text::{Bm25, LexicalScorer};

/// Tunables of hybrid search. Defaults were chosen on the LoCoMo dev split, with a
/// leave-one-conversation-out check (docs/scoring.md). Every setter checks its value, so a
/// `HybridConfig` is always valid.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridConfig {
    lexical_weight: f64,
    bm25: Bm25,
    neighbour_weight: f64,
    neighbour_window: usize,
    timeline_limit: usize,
    lexical_limit: usize,
}

impl Default for HybridConfig {
    fn default() -> Self {
        Self {
            lexical_weight: 0.5,
            bm25: Bm25::new(1.2, 0.0).unwrap_or_default(),
            neighbour_weight: 0.2,
            neighbour_window: 2,
            timeline_limit: 10_000,
            lexical_limit: 1000,
        }
    }
}

fn unit_interval(field: &str, v: f64) -> Result<f64, FieldError> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(FieldError::new(
            field,
            format!("must be between 0 and 1, got {v}"),
        ))
    }
}

impl HybridConfig {
    /// Weight of the lexical score in the fused score, in `[0, 1]`; the dense part gets the
    /// rest (default 0.5).
    pub fn lexical_weight(&self) -> f64 {
        self.lexical_weight
    }

    /// BM25 parameters (default k1 1.2, b 0: no length normalisation; chat turns vary in
    /// length less than documents do, and a long turn that names the thing asked about is no
    /// worse for it).
    pub fn bm25(&self) -> Bm25 {
        self.bm25
    }

    /// Each candidate gains this share, in `[0, 1]`, of the fused scores of its neighbours
    /// (default 0.2): turns next to a relevant turn are often the answer, or part of it.
    pub fn neighbour_weight(&self) -> f64 {
        self.neighbour_weight
    }

    /// How many places on each side, in the conversation's time order, count as neighbours
    /// (default 2).
    pub fn neighbour_window(&self) -> usize {
        self.neighbour_window
    }

    /// Conversations of at most this many messages have their time line read for neighbour
    /// smoothing (default 10,000); longer ones fall back to the candidates' own time order.
    pub fn timeline_limit(&self) -> usize {
        self.timeline_limit
    }

    /// Most lexical matches fetched per query, at least 1 (default 1000).
    pub fn lexical_limit(&self) -> usize {
        self.lexical_limit
    }

    /// Sets [`Self::lexical_weight`].
    pub fn with_lexical_weight(mut self, w: f64) -> Result<Self, FieldError> {
        self.lexical_weight = unit_interval("lexical_weight", w)?;
        Ok(self)
    }

    /// Sets [`Self::bm25`].
    pub fn with_bm25(mut self, bm25: Bm25) -> Self {
        self.bm25 = bm25;
        self
    }

    /// Sets [`Self::neighbour_weight`].
    pub fn with_neighbour_weight(mut self, w: f64) -> Result<Self, FieldError> {
        self.neighbour_weight = unit_interval("neighbour_weight", w)?;
        Ok(self)
    }

    /// Sets [`Self::neighbour_window`].
    pub fn with_neighbour_window(mut self, places: usize) -> Self {
        self.neighbour_window = places;
        self
    }

    /// Sets [`Self::timeline_limit`].
    pub fn with_timeline_limit(mut self, messages: usize) -> Self {
        self.timeline_limit = messages;
        self
    }

    /// Sets [`Self::lexical_limit`].
    pub fn with_lexical_limit(mut self, limit: usize) -> Result<Self, FieldError> {
        if limit == 0 {
            return Err(FieldError::new("lexical_limit", "must be at least 1"));
        }
        self.lexical_limit = limit;
        Ok(self)
    }
}

/// A candidate with its fused relevance.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    /// The message.
    pub message: Message,
    /// Cosine similarity to the query (0 for a message without an embedding yet, and for
    /// every message when the query has no embedding).
    pub similarity: f64,
    /// Min-max normalised BM25 score in [0, 1]; `None` in vector mode.
    pub lexical: Option<f64>,
    /// The fused relevance in [0, 1].
    pub relevance: f64,
}

/// `(x - min) / (max - min)` over all values. When they are all equal (one candidate, say)
/// there is nothing to tell apart: 1 when that value is positive (a lexical match is a match),
/// 0 otherwise.
fn min_max(values: &[f64]) -> Vec<f64> {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let span = hi - lo;
    values
        .iter()
        .map(|v| {
            if span > 1e-12 {
                (v - lo) / span
            } else if *v > 0.0 {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// Fuses dense candidates and lexical matches over their union C (lexical mode: no dense
/// candidates and no query embedding, so V is 0 and every similarity 0):
///
/// ```text
/// bm25(d)   BM25 of d for the query terms over the scope's statistics (N, the average
///           length and each term's document frequency; 0 without a match)
/// L, V      min-max of bm25 and of the cosine similarity over C
/// f(d)      = w * L(d) + (1 - w) * V(d)
/// g(d)      = f(d) + s * sum of f(e) over the candidates e that are d's neighbours
/// relevance = g(d) / max g
/// ```
///
/// With the conversation's `timeline` (a conversation-scoped search on a store that provides
/// it), d's neighbours are the candidates at most `window` places from d in the conversation
/// itself: a turn next to d that is not a candidate contributes nothing, and a candidate far
/// from d never counts. Without it, candidates of d's conversation at most `window` places
/// from d among the candidates, in time order, stand in.
pub fn fuse(
    dense: Vec<Candidate>,
    lexical: LexicalMatches,
    query_terms: &[String],
    query_embedding: Option<&Embedding>,
    timeline: Option<&[MessageId]>,
    config: &HybridConfig,
) -> Vec<Fused> {
    let scorer = LexicalScorer::new(
        config.bm25,
        query_terms,
        &lexical.document_frequencies,
        lexical.scope_size.max(lexical.documents.len() as u64),
        lexical.average_length,
    );
    let bm25: HashMap<MessageId, f64> = lexical
        .documents
        .iter()
        .map(|d| (d.message.id, scorer.score(&d.terms)))
        .collect();

    let mut union: Vec<(Message, f64)> = Vec::with_capacity(dense.len() + lexical.documents.len());
    let mut seen: HashMap<MessageId, ()> = HashMap::new();
    for c in dense {
        if seen.insert(c.message.id, ()).is_none() {
            union.push((c.message, c.similarity));
        }
    }
    for d in lexical.documents {
        if seen.insert(d.message.id, ()).is_none() {
            let similarity = match (&d.message.embedding, query_embedding) {
                (Some(e), Some(q)) => f64::from(e.cosine(q)),
                _ => 0.0,
            };
            union.push((d.message, similarity));
        }
    }
    if union.is_empty() {
        return Vec::new();
    }

    let lex: Vec<f64> = min_max(
        &union
            .iter()
            .map(|(m, _)| bm25.get(&m.id).copied().unwrap_or(0.0))
            .collect::<Vec<_>>(),
    );
    let dense: Vec<f64> = min_max(&union.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    let w = config.lexical_weight;
    let f: Vec<f64> = lex
        .iter()
        .zip(&dense)
        .map(|(l, v)| w * l + (1.0 - w) * v)
        .collect();

    let mut g = f.clone();
    for (i, bonus) in neighbour_sums(&union, &f, timeline, config.neighbour_window) {
        g[i] += config.neighbour_weight * bonus;
    }
    let max_g = g.iter().copied().fold(0.0, f64::max);
    union
        .into_iter()
        .zip(lex)
        .zip(g)
        .map(|(((message, similarity), l), g)| Fused {
            message,
            similarity,
            lexical: Some(l),
            relevance: if max_g > 0.0 { g / max_g } else { 0.0 },
        })
        .collect()
}

/// For each candidate (by index into `union`), the sum of `f` over its neighbours.
fn neighbour_sums(
    union: &[(Message, f64)],
    f: &[f64],
    timeline: Option<&[MessageId]>,
    window: usize,
) -> Vec<(usize, f64)> {
    // Each placed candidate: (conversation, position, index into union). Positions come from
    // the time line, or else from the candidates' own time order within their conversation.
    let mut placed: Vec<(&str, usize, usize)> = match timeline {
        Some(line) => {
            let at: HashMap<MessageId, usize> =
                line.iter().enumerate().map(|(p, id)| (*id, p)).collect();
            union
                .iter()
                .enumerate()
                .filter_map(|(i, (m, _))| {
                    at.get(&m.id).map(|&p| (m.conversation_id.as_str(), p, i))
                })
                .collect()
        }
        None => {
            let mut order: Vec<usize> = (0..union.len()).collect();
            order.sort_by(|&a, &b| {
                let (ma, mb) = (&union[a].0, &union[b].0);
                (ma.conversation_id.as_str(), ma.created_at, ma.id).cmp(&(
                    mb.conversation_id.as_str(),
                    mb.created_at,
                    mb.id,
                ))
            });
            order
                .into_iter()
                .enumerate()
                .map(|(p, i)| (union[i].0.conversation_id.as_str(), p, i))
                .collect()
        }
    };
    placed.sort_unstable();
    let near = |a: &(&str, usize, usize), b: &(&str, usize, usize)| {
        a.0 == b.0 && a.1.abs_diff(b.1) <= window
    };
    (0..placed.len())
        .map(|k| {
            let before = placed[..k].iter().rev().take_while(|e| near(e, &placed[k]));
            let after = placed[k + 1..].iter().take_while(|e| near(e, &placed[k]));
            let bonus = before.chain(after).map(|e| f[e.2]).sum();
            (placed[k].2, bonus)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::LexicalDocument;
    use crate::testkit::{Fixture, basis, t0, tilted};
    use crate::text::Analyzer;
    use chrono::Duration;

    fn doc(m: &Message) -> LexicalDocument {
        LexicalDocument {
            message: m.clone(),
            terms: Analyzer::english()
                .analyze(m.content.as_str())
                .terms()
                .to_owned(),
        }
    }

    #[test]
    fn lexical_and_dense_evidence_add_up_and_neighbours_share() {
        let q = basis(4, 0);
        let at = |s: i64| t0() + Duration::seconds(s);
        // Time order in c1: a, b, c, far (far is 3 places from a).
        let a = Fixture::new("t", "c1", 4)
            .content("we adopted a puppy named Rex")
            .embedded(tilted(4, 0.2))
            .created(at(0))
            .build();
        let b = Fixture::new("t", "c1", 4)
            .content("how lovely")
            .embedded(tilted(4, 1.0))
            .created(at(1))
            .build();
        let c = Fixture::new("t", "c1", 4)
            .content("what breed")
            .embedded(tilted(4, 1.4))
            .created(at(2))
            .build();
        let far = Fixture::new("t", "c1", 4)
            .content("unrelated")
            .embedded(tilted(4, 1.4))
            .created(at(3))
            .build();
        let dense: Vec<Candidate> = [&a, &b, &c, &far]
            .iter()
            .map(|m| Candidate {
                similarity: f64::from(m.embedding.as_ref().expect("embedded").cosine(&q)),
                message: (*m).clone(),
            })
            .collect();
        let lexical = LexicalMatches {
            scope_size: 4,
            average_length: 2.0,
            document_frequencies: vec![1, 1],
            documents: vec![doc(&a)],
        };
        let terms = Analyzer::english().query_terms("puppy Rex");
        let fused = fuse(
            dense,
            lexical,
            &terms,
            Some(&q),
            None,
            &HybridConfig::default(),
        );
        let get = |m: &Message| {
            fused
                .iter()
                .find(|f| f.message.id == m.id)
                .expect("present")
        };
        assert_eq!(get(&a).relevance, 1.0, "best on both sides");
        assert_eq!(get(&a).lexical, Some(1.0));
        assert_eq!(get(&b).lexical, Some(0.0));
        // c and far have the same similarity (dense 0); c is within two places of a, far is not.
        assert!(
            get(&c).relevance > get(&far).relevance,
            "neighbours of a relevant turn gain"
        );
        assert!(fused.iter().all(|f| (0.0..=1.0).contains(&f.relevance)));
    }

    #[test]
    fn with_a_timeline_only_true_neighbours_share() {
        let q = basis(4, 0);
        let at = |s: i64| t0() + Duration::seconds(s);
        let turn = |text: &str, s: i64| {
            Fixture::new("t", "c1", 4)
                .content(text)
                .embedded(tilted(4, 1.4))
                .created(at(s))
                .build()
        };
        // a matches the query; b follows a among the candidates but is 5 turns later in
        // the conversation; c is 2 turns after a; gaps are turns that are not candidates.
        let a = turn("we adopted a puppy named Rex", 0);
        let c = turn("what breed", 2);
        let b = turn("how lovely", 5);
        let gaps: Vec<Message> = [1, 3, 4].iter().map(|&s| turn("gap", s)).collect();
        let candidates = |ms: &[&Message]| -> Vec<Candidate> {
            ms.iter()
                .map(|m| Candidate {
                    similarity: 0.0,
                    message: (*m).clone(),
                })
                .collect()
        };
        let lexical = || LexicalMatches {
            scope_size: 6,
            average_length: 3.0,
            document_frequencies: vec![1, 1],
            documents: vec![doc(&a)],
        };
        let terms = Analyzer::english().query_terms("puppy Rex");
        let relevance = |fused: &[Fused], m: &Message| {
            fused
                .iter()
                .find(|f| f.message.id == m.id)
                .expect("present")
                .relevance
        };
        let mut line: Vec<&Message> = vec![&a, &c, &b];
        line.extend(&gaps);
        line.sort_by_key(|m| m.created_at);
        let ids: Vec<MessageId> = line.iter().map(|m| m.id).collect();
        let config = HybridConfig::default();

        // Without a time line, a and b are neighbours among the candidates {a, b}.
        let fused = fuse(
            candidates(&[&a, &b]),
            lexical(),
            &terms,
            Some(&q),
            None,
            &config,
        );
        assert!(
            relevance(&fused, &b) > 0.0,
            "candidate order: b gains from a"
        );
        // With it, b is 5 turns from a: no share; c, 2 turns from a, gains.
        let fused = fuse(
            candidates(&[&a, &b, &c]),
            lexical(),
            &terms,
            Some(&q),
            Some(&ids),
            &config,
        );
        assert_eq!(relevance(&fused, &b), 0.0, "b is not a's neighbour");
        assert!(relevance(&fused, &c) > 0.0, "c is a's neighbour");
        // A candidate missing from the time line (inserted after it was read) gets no share
        // and gives none.
        let late = turn("late", 1);
        let fused = fuse(
            candidates(&[&a, &late]),
            lexical(),
            &terms,
            Some(&q),
            Some(&ids),
            &config,
        );
        assert_eq!(relevance(&fused, &late), 0.0);
        assert_eq!(relevance(&fused, &a), 1.0);
    }

    #[test]
    fn lexical_only_matches_join_the_candidates() {
        let q = basis(4, 0);
        let pending = Fixture::new("t", "c1", 4)
            .content("the wedding is in Porto")
            .build();
        let dense = vec![Candidate {
            message: Fixture::new("t", "c2", 4).embedded(basis(4, 1)).build(),
            similarity: 0.0,
        }];
        let lexical = LexicalMatches {
            scope_size: 2,
            average_length: 3.0,
            document_frequencies: vec![1, 1],
            documents: vec![doc(&pending)],
        };
        let fused = fuse(
            dense,
            lexical,
            &Analyzer::english().query_terms("Porto wedding"),
            Some(&q),
            None,
            &HybridConfig::default(),
        );
        assert_eq!(fused.len(), 2);
        let p = fused
            .iter()
            .find(|f| f.message.id == pending.id)
            .expect("joined");
        assert_eq!((p.similarity, p.relevance), (0.0, 1.0));
    }

    #[test]
    fn empty_inputs_give_nothing() {
        assert!(
            fuse(
                vec![],
                LexicalMatches::default(),
                &[],
                Some(&basis(4, 0)),
                None,
                &HybridConfig::default()
            )
            .is_empty()
        );
    }

    #[test]
    fn config_validation() {
        let c = HybridConfig::default();
        assert_eq!(c.lexical_weight(), 0.5);
        assert_eq!(
            c.clone().with_lexical_weight(1.5).expect_err("range").field,
            "lexical_weight"
        );
        assert!(c.clone().with_neighbour_weight(-0.1).is_err());
        assert!(c.clone().with_lexical_limit(0).is_err());
        let c = c.with_lexical_weight(0.3).expect("valid");
        assert_eq!(c.lexical_weight(), 0.3);
    }
}
