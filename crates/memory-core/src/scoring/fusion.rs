//! Hybrid relevance: dense nearest neighbours and lexical (BM25) matches, fused.

use std::collections::{HashMap, HashSet};

use super::calibration::calibrated;
use super::hybrid::HybridConfig;
use super::neighbours::{Neighbourhood, in_time_order};
use super::period::NamedPeriod;
use super::signals::{Signals, names_speaker, session_best};
use crate::domain::{Embedding, Message, MessageId};
use crate::ports::{Candidate, LexicalMatches};
use crate::text::LexicalScorer;

/// A candidate with its fused relevance.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    /// The message.
    pub message: Message,
    /// Cosine similarity to the query (0 for a message without an embedding yet, and for
    /// every message when the query has no embedding).
    pub similarity: f64,
    /// BM25 on a fixed scale, in [0, 1]: the share of the query's idf mass the message
    /// matches ([`crate::text::LexicalScorer::coverage`]); `None` in vector mode.
    pub lexical: Option<f64>,
    /// The absolute relevance in [0, 1]: similarity and lexical coverage on fixed scales,
    /// fused ([`calibrated`]); the same for the same message and query whatever else the
    /// candidates hold.
    pub relevance: f64,
    /// The best relevance among the message, its neighbouring turns and its session (the
    /// turns that share their fused scores, see [`fuse`]): what `min_relevance` is checked
    /// against, so the turns around a relevant one (a reply, the question it answers, the
    /// rest of that conversation's session) stay with it.
    pub support: f64,
    /// What orders the candidates of one query, in [0, 1]: min-max normalised BM25 and
    /// cosine over the candidates, fused and shared with neighbouring turns and the session,
    /// with the date signal (the best is 1): `signals.total()` over the best candidate's.
    pub order: f64,
    /// What `order` is made of; `None` in vector mode (where it is the cosine).
    pub signals: Option<Signals>,
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
///           + a * max of f(e) over the candidates e in d's session (its conversation's
///             candidates in time order, split at silences longer than the session gap)
/// h(d)      = g(d) + max g * (b * [d was written in the period the query names, or
///             within the date grace after it] + c * [the query names d's speaker])
/// order     = h(d) / max h                     what ranks the candidates
/// relevance = w * coverage(d) + (1 - w) * similarity_relevance(d, N)   absolute, see
///             [`calibrated`]; coverage alone without a similarity (lexical mode, or d
///             not embedded yet). coverage(d) = bm25(d) / the query terms' idf mass,
///             where for d written in the query's period each term naming the period
///             adds max(its own share, its idf): matched once, by when d was written
/// support   = max relevance over d and its neighbours
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
    period: Option<&NamedPeriod>,
    config: &HybridConfig,
) -> Vec<Fused> {
    // The scope's size: BM25's N, and the chance level of a cosine.
    let scope_size = lexical.scope_size.max(lexical.documents.len() as u64);
    let scorer = LexicalScorer::new(
        config.bm25(),
        query_terms,
        &lexical.document_frequencies,
        scope_size,
        lexical.average_length,
    );
    let bm25: HashMap<MessageId, f64> = lexical
        .documents
        .iter()
        .map(|d| (d.message.id, scorer.score(&d.terms)))
        .collect();
    // The same, for the matches written in the query's period: the words naming the period
    // count as matched by when it was written (once, even where its text also has them).
    let dated_bm25: HashMap<MessageId, f64> = period.map_or_else(HashMap::new, |p| {
        lexical
            .documents
            .iter()
            .filter(|d| p.contains(d.message.created_at, config.date_grace()))
            .map(|d| (d.message.id, scorer.score_with(&d.terms, p.terms())))
            .collect()
    });

    let mut union: Vec<(Message, f64)> = Vec::with_capacity(dense.len() + lexical.documents.len());
    // Whether each candidate's similarity is known: a message not embedded yet has none.
    let mut compared: Vec<bool> = Vec::with_capacity(union.capacity());
    let mut seen: HashSet<MessageId> = HashSet::new();
    for c in dense {
        if seen.insert(c.message.id) {
            union.push((c.message, c.similarity));
            compared.push(true);
        }
    }
    for d in lexical.documents {
        if seen.insert(d.message.id) {
            let similarity = match (&d.message.embedding, query_embedding) {
                (Some(e), Some(q)) => Some(f64::from(e.cosine(q))),
                _ => None,
            };
            union.push((d.message, similarity.unwrap_or(0.0)));
            compared.push(similarity.is_some());
        }
    }
    if union.is_empty() {
        return Vec::new();
    }

    let raw: Vec<f64> = union
        .iter()
        .map(|(m, _)| bm25.get(&m.id).copied().unwrap_or(0.0))
        .collect();
    let lex: Vec<f64> = min_max(&raw);
    let dense: Vec<f64> = min_max(&union.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    let w = config.lexical_weight();
    let f: Vec<f64> = lex
        .iter()
        .zip(&dense)
        .map(|(l, v)| w * l + (1.0 - w) * v)
        .collect();

    let near = Neighbourhood::new(&union, timeline, config.neighbour_window());
    let by_time = in_time_order(&union);
    let session = session_best(&union, &by_time, &f, config.session_gap());
    let mut signals: Vec<Signals> = (0..union.len())
        .map(|i| Signals {
            matched: f[i],
            neighbours: config.neighbour_weight() * near.of(i).map(|e| f[e]).sum::<f64>(),
            session: config.session_weight() * session[i],
            date: 0.0,
            speaker: 0.0,
        })
        .collect();
    let best = signals.iter().map(Signals::total).fold(0.0, f64::max);
    let terms: HashSet<&str> = query_terms.iter().map(String::as_str).collect();
    let in_period: Vec<bool> = union
        .iter()
        .map(|(m, _)| period.is_some_and(|p| p.contains(m.created_at, config.date_grace())))
        .collect();
    let mut speakers = HashMap::new();
    for ((s, (m, _)), &dated) in signals.iter_mut().zip(&union).zip(&in_period) {
        if dated {
            s.date = config.date_weight() * best;
        }
        if config.speaker_weight() > 0.0 && names_speaker(m, &terms, &mut speakers) {
            s.speaker = config.speaker_weight() * best;
        }
    }
    let max_h = signals.iter().map(Signals::total).fold(0.0, f64::max);
    // The words naming the period are matched by when a message was written, not by its
    // text: a message written in the period counts as mentioning them. A candidate that
    // matched no query word lexically mentions none of them.
    let date_mass = period.map_or(0.0, |p| scorer.idf_mass(p.terms()));
    let coverage: Vec<f64> = union
        .iter()
        .zip(&raw)
        .zip(&in_period)
        .map(|(((m, _), r), &dated)| {
            scorer.coverage(match dated {
                true => dated_bm25.get(&m.id).copied().unwrap_or(date_mass),
                false => *r,
            })
        })
        .collect();
    // Without lexical statistics (a query of stopwords only) the candidates are a lower
    // bound of the scope's size.
    let scope_size = scope_size.max(union.len() as u64);
    // Without a similarity (lexical mode, or a message not embedded yet) the words are all
    // the evidence there is: an unknown similarity is not a low one.
    let relevance: Vec<f64> = (0..union.len())
        .map(|i| match compared[i] {
            false => coverage[i],
            true => calibrated(union[i].1, coverage[i], w, scope_size),
        })
        .collect();
    // A session shares its best relevance as it shares its best fused score.
    let session_support = match config.session_weight() > 0.0 {
        true => session_best(&union, &by_time, &relevance, config.session_gap()),
        false => vec![0.0; union.len()],
    };
    let support: Vec<f64> = (0..union.len())
        .map(|i| {
            near.of(i)
                .map(|e| relevance[e])
                .fold(relevance[i].max(session_support[i]), f64::max)
        })
        .collect();
    union
        .into_iter()
        .enumerate()
        .map(|(i, (message, similarity))| Fused {
            message,
            similarity,
            lexical: Some(coverage[i]),
            relevance: relevance[i],
            support: support[i],
            order: if max_h > 0.0 {
                signals[i].total() / max_h
            } else {
                0.0
            },
            signals: Some(signals[i]),
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ports::LexicalDocument;
    use crate::scoring::similarity_relevance;
    use crate::testkit::{Fixture, basis, t0, tilted};
    use crate::text::Analyzer;
    use chrono::Duration;

    /// Dense candidates: each embedded message with its cosine to `q`.
    fn nearest(messages: &[&Message], q: &Embedding) -> Vec<Candidate> {
        messages
            .iter()
            .map(|m| Candidate {
                similarity: f64::from(m.embedding.as_ref().expect("embedded").cosine(q)),
                message: (*m).clone(),
            })
            .collect()
    }

    pub(in crate::scoring) fn doc(m: &Message) -> LexicalDocument {
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
        let dense = nearest(&[&a, &b, &c, &far], &q);
        let lexical = LexicalMatches {
            scope_size: 4,
            average_length: 2.0,
            document_frequencies: vec![1, 1],
            documents: vec![doc(&a)],
        };
        let terms = Analyzer::english().query_terms("puppy Rex");
        // One session: only the neighbours share here.
        let config = HybridConfig::default()
            .with_session_weight(0.0)
            .expect("valid");
        let fused = fuse(dense, lexical, &terms, Some(&q), None, None, &config);
        let get = |m: &Message| {
            fused
                .iter()
                .find(|f| f.message.id == m.id)
                .expect("present")
        };
        assert_eq!(get(&a).order, 1.0, "best on both sides");
        assert_eq!(get(&a).lexical, Some(1.0));
        assert_eq!(get(&b).lexical, Some(0.0));
        // c and far have the same similarity (dense 0); c is within two places of a, far is not.
        assert!(
            get(&c).order > get(&far).order,
            "neighbours of a relevant turn gain"
        );
        // c's relevance is its own; its support is a's (its neighbour); far is not a's
        // neighbour, so its support (b's, the best of its own neighbours) is lower.
        assert_eq!(get(&c).relevance, get(&far).relevance);
        assert_eq!(get(&c).support, get(&a).relevance);
        assert_eq!(get(&far).support, get(&b).relevance);
        assert!(get(&far).support < get(&a).relevance);
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
                .order
        };
        let mut line: Vec<&Message> = vec![&a, &c, &b];
        line.extend(&gaps);
        line.sort_by_key(|m| m.created_at);
        let ids: Vec<MessageId> = line.iter().map(|m| m.id).collect();
        // The turns are one session: the session signal would share a's score with all.
        let config = HybridConfig::default()
            .with_session_weight(0.0)
            .expect("valid");

        // Without a time line, a and b are neighbours among the candidates {a, b}.
        let fused = fuse(
            candidates(&[&a, &b]),
            lexical(),
            &terms,
            Some(&q),
            None,
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
            None,
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
            None,
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
            None,
            &HybridConfig::default(),
        );
        assert_eq!(fused.len(), 2);
        let p = fused
            .iter()
            .find(|f| f.message.id == pending.id)
            .expect("joined");
        // Best lexically and not embedded yet: first in order, and its relevance is its
        // coverage (an unknown similarity is not a low one).
        assert_eq!((p.similarity, p.order, p.lexical), (0.0, 1.0, Some(1.0)));
        assert_eq!(p.relevance, 1.0);
    }

    #[test]
    fn relevance_is_absolute_whatever_else_is_found() {
        let q = basis(4, 0);
        let terms = Analyzer::english().query_terms("puppy Rex");
        let turn = |text: &str, tilt: f32| {
            Fixture::new("t", "c1", 4)
                .content(text)
                .embedded(tilted(4, tilt))
                .build()
        };
        let dog = turn("we adopted a puppy named Rex", 0.3);
        let noise = turn("the weather was fine", 1.4);
        let strong = turn("Rex the puppy, Rex!", 0.05);
        let fused_with = |others: &[&Message]| {
            let mut all = vec![&dog];
            all.extend_from_slice(others);
            let dense = nearest(&all, &q);
            let documents: Vec<LexicalDocument> = all
                .iter()
                .filter(|m| m.content.as_str().contains("Rex"))
                .map(|m| doc(m))
                .collect();
            let lexical = LexicalMatches {
                scope_size: 10,
                average_length: 3.0,
                document_frequencies: vec![2, 2],
                documents,
            };
            let fused = fuse(
                dense,
                lexical,
                &terms,
                Some(&q),
                None,
                None,
                &HybridConfig::default(),
            );
            fused
                .into_iter()
                .find(|f| f.message.id == dog.id)
                .expect("present")
        };
        let alone = fused_with(&[&noise]);
        let outdone = fused_with(&[&noise, &strong]);
        // The order is relative: a stronger match takes the first place.
        assert_eq!(alone.order, 1.0);
        assert!(outdone.order < 1.0);
        // The relevance is not: the same message and query, the same relevance.
        assert_eq!(alone.relevance, outdone.relevance);
        let cosine = f64::from(tilted(4, 0.3).cosine(&q));
        assert_eq!(alone.lexical, Some(1.0), "names both query terms once");
        assert!((alone.relevance - calibrated(cosine, 1.0, 0.5, 10)).abs() < 1e-12);
        // An unrelated message scores low on the same scale.
        let unrelated = similarity_relevance(f64::from(tilted(4, 1.4).cosine(&q)), 10);
        assert!(unrelated < 0.1, "{unrelated}");
    }

    #[test]
    fn lexical_mode_relevance_is_the_coverage() {
        let a = Fixture::new("t", "c1", 4)
            .content("the wedding is in Porto")
            .build();
        let lexical = LexicalMatches {
            scope_size: 5,
            average_length: 3.0,
            // "porto" is rare (1 of 5), "wed" common (4 of 5): matching only the common
            // term covers less than half of the query's idf mass.
            document_frequencies: vec![1, 4],
            documents: vec![doc(&a)],
        };
        let only_common = Fixture::new("t", "c1", 4).content("a wedding").build();
        let mut lexical2 = lexical.clone();
        lexical2.documents = vec![doc(&only_common)];
        let terms = Analyzer::english().query_terms("Porto wedding");
        let full = fuse(
            vec![],
            lexical,
            &terms,
            None,
            None,
            None,
            &HybridConfig::default(),
        );
        let part = fuse(
            vec![],
            lexical2,
            &terms,
            None,
            None,
            None,
            &HybridConfig::default(),
        );
        assert_eq!(full[0].relevance, 1.0);
        assert_eq!(full[0].lexical, Some(1.0));
        assert!(
            part[0].relevance > 0.0 && part[0].relevance < 0.5,
            "{}",
            part[0].relevance
        );
        assert_eq!(part[0].order, 1.0, "alone, it is still first");
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
                None,
                &HybridConfig::default()
            )
            .is_empty()
        );
    }
}
