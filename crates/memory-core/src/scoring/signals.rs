//! What a hybrid candidate's `order` is made of ([`Signals`]), and the signals that look
//! beyond the candidate's words and vector: its session ([`session_best`]), the period the
//! query names ([`super::QueryPeriod`]) and whether the query names its speaker
//! ([`names_speaker`]).

use std::collections::{HashMap, HashSet};

use chrono::Duration;

use crate::domain::Message;

/// The parts of a hybrid candidate's `order`, before it is divided by the best candidate's
/// total (docs/scoring.md, "Hybrid search"): why the candidate ranked where it did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Signals {
    /// `f`: min-max BM25 and cosine over the candidates, fused.
    pub matched: f64,
    /// The neighbour weight times the sum of `f` over the candidate's neighbouring turns.
    pub neighbours: f64,
    /// The session weight times the best `f` in the candidate's session.
    pub session: f64,
    /// The date weight times the best candidate's `matched + neighbours + session`, when
    /// the message was written in the period the query names (or shortly after); else 0.
    pub date: f64,
    /// The speaker weight times the same best, when the query names the message's speaker
    /// (its metadata's `speaker`); else 0.
    pub speaker: f64,
}

impl Signals {
    /// What `order` normalises.
    pub fn total(&self) -> f64 {
        self.matched + self.neighbours + self.session + self.date + self.speaker
    }
}

/// For each candidate, the best `f` among the candidates of its session: its conversation's
/// candidates in time order, split wherever two consecutive ones are more than `gap` apart
/// (chat sessions are bursts of turns; the candidates stand in for the conversation, so two
/// candidates of one session with a long silence between them count as two).
/// `order` is [`super::neighbours::in_time_order`]'s.
pub(super) fn session_best(
    union: &[(Message, f64)],
    order: &[usize],
    f: &[f64],
    gap: Duration,
) -> Vec<f64> {
    let mut best = vec![0.0; union.len()];
    let mut start = 0;
    for k in 1..=order.len() {
        let split = k == order.len() || {
            let (prev, next) = (&union[order[k - 1]].0, &union[order[k]].0);
            prev.conversation_id != next.conversation_id || next.created_at - prev.created_at > gap
        };
        if split {
            let session = &order[start..k];
            let top = session.iter().map(|&i| f[i]).fold(f64::MIN, f64::max);
            for &i in session {
                best[i] = top;
            }
            start = k;
        }
    }
    best
}

/// Whether the query names the message's speaker: the message's metadata has a `speaker`
/// string (a person's name, as multi-party chats store it) whose first analysed term is one
/// of the query's terms ("What did Caroline say about ..." and a turn by "Caroline").
/// `seen` remembers each name's answer for the rest of the search: candidates share few.
pub(super) fn names_speaker<'m>(
    m: &'m Message,
    query_terms: &HashSet<&str>,
    seen: &mut HashMap<&'m str, bool>,
) -> bool {
    let Some(serde_json::Value::String(name)) = m.metadata.as_map().get("speaker") else {
        return false;
    };
    *seen.entry(name.as_str()).or_insert_with(|| {
        crate::text::Analyzer::english()
            .query_terms(name)
            .first()
            .is_some_and(|t| query_terms.contains(t.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use chrono::Datelike as _;

    use super::*;
    use crate::ports::{Candidate, LexicalMatches};
    use crate::scoring::fusion::tests::doc;
    use crate::scoring::neighbours::in_time_order;
    use crate::scoring::{HybridConfig, NamedPeriod, QueryPeriod, fuse};
    use crate::testkit::{Fixture, basis, t0, tilted};
    use crate::text::Analyzer;

    #[test]
    fn a_session_is_a_conversation_s_burst_of_candidates() {
        let m = |conv: &str, minutes: i64| {
            Fixture::new("acme", conv, 2)
                .created(t0() + Duration::minutes(minutes))
                .build()
        };
        // Out of time order on purpose: sessions follow created_at, not the candidates' order.
        let union: Vec<(Message, f64)> = vec![
            (m("a", 0), 0.0),
            (m("a", 200), 0.0),
            (m("a", 30), 0.0),
            (m("b", 10), 0.0),
            (m("a", 250), 0.0),
        ];
        let f = [0.1, 0.2, 0.9, 0.5, 0.3];
        // Conversation a: {0, 30} then, after a gap of 170 minutes, {200, 250}; b alone.
        assert_eq!(
            session_best(&union, &in_time_order(&union), &f, Duration::hours(1)),
            vec![0.9, 0.3, 0.9, 0.5, 0.3]
        );
        // A wider gap joins a's two bursts.
        assert_eq!(
            session_best(&union, &in_time_order(&union), &f, Duration::hours(3)),
            vec![0.9, 0.9, 0.9, 0.5, 0.9]
        );
    }

    #[test]
    fn a_session_shares_its_best_match_and_the_named_period_lifts_its_turns() {
        let q = basis(4, 0);
        let day = |d: i64, min: i64| t0() + Duration::days(d) + Duration::minutes(min);
        let turn = |text: &str, at| {
            Fixture::new("t", "c1", 4)
                .content(text)
                .embedded(tilted(4, 1.4))
                .created(at)
                .build()
        };
        // Session one: the match, then a reply 5 minutes (and 3 turns) later. Session two,
        // ten days later: two turns that match nothing.
        let hit = turn("we adopted a puppy named Rex", day(0, 0));
        let reply = turn("so sweet", day(0, 5));
        let later = turn("how was the trip", day(10, 0));
        let last = turn("long and rainy", day(10, 2));
        let candidates = [&hit, &reply, &later, &last]
            .iter()
            .map(|m| Candidate {
                similarity: 0.0,
                message: (*m).clone(),
            })
            .collect::<Vec<_>>();
        let lexical = || LexicalMatches {
            scope_size: 4,
            average_length: 3.0,
            document_frequencies: vec![1, 1],
            documents: vec![doc(&hit)],
        };
        let terms = Analyzer::english().query_terms("puppy Rex");
        // No neighbours on a time line of their own: only the session links them.
        let gap = crate::domain::MessageId::new;
        let ids = [
            later.id,
            last.id,
            gap(),
            gap(),
            gap(),
            hit.id,
            gap(),
            gap(),
            reply.id,
        ];
        let config = HybridConfig::default();
        let signals = |period: Option<&NamedPeriod>| {
            let fused = fuse(
                candidates.clone(),
                lexical(),
                &terms,
                Some(&q),
                Some(&ids),
                period,
                &config,
            );
            let max = fused
                .iter()
                .map(|f| f.signals.expect("hybrid").total())
                .fold(0.0, f64::max);
            for f in &fused {
                let s = f.signals.expect("hybrid");
                assert!(
                    (f.order - s.total() / max).abs() < 1e-12,
                    "order is the total"
                );
            }
            // A session shares its best relevance too: what min_relevance is checked against.
            let of = |m: &Message| {
                fused
                    .iter()
                    .find(|f| f.message.id == m.id)
                    .expect("present")
            };
            assert_eq!(of(&reply).support, of(&hit).relevance);
            assert!(of(&later).support < of(&hit).relevance);
            move |m: &Message| {
                fused
                    .iter()
                    .find(|f| f.message.id == m.id)
                    .expect("present")
                    .signals
                    .expect("hybrid")
            }
        };
        let get = signals(None);
        // Every cosine is 0 here: the lexical half alone.
        assert_eq!(get(&hit).matched, config.lexical_weight());
        assert_eq!(get(&reply).matched, 0.0);
        assert_eq!(
            get(&reply).neighbours,
            0.0,
            "3 turns apart on the time line"
        );
        assert_eq!(
            get(&reply).session,
            config.session_weight() * get(&hit).matched,
            "the match's session"
        );
        assert_eq!(get(&later).session, 0.0, "another session");
        assert!(get(&hit).date == 0.0 && get(&later).date == 0.0);
        // The query names the second session's day: its turns gain a share of the best.
        let period = QueryPeriod::Month {
            year: Some(day(10, 0).year()),
            month: day(10, 0).month(),
            day: Some(day(10, 0).day()),
        };
        let get = signals(Some(&NamedPeriod::new(period, Vec::new())));
        let best = get(&hit).matched + get(&hit).session;
        assert_eq!(get(&later).date, config.date_weight() * best);
        assert_eq!(get(&last).date, config.date_weight() * best);
        assert_eq!(get(&hit).date, 0.0);
        assert!(candidates.iter().all(|c| get(&c.message).speaker == 0.0));
    }

    /// The messages as vector candidates of similarity 0.
    fn dense_candidates(messages: &[&Message]) -> Vec<Candidate> {
        messages
            .iter()
            .map(|m| Candidate {
                similarity: 0.0,
                message: (*m).clone(),
            })
            .collect()
    }

    /// A message of `text` written at `at`, its vector unrelated to the tests' queries.
    fn written(text: &str, at: &str) -> Message {
        Fixture::new("t", "c1", 4)
            .content(text)
            .embedded(tilted(4, 1.4))
            .created(at.parse().expect("time"))
            .build()
    }

    #[test]
    fn a_message_written_in_the_named_period_covers_the_words_naming_it() {
        // "On 10 March 2023": the date words are in no message's text, only in when the
        // messages were written.
        let that_day = written("we repotted the tomatoes", "2023-03-10T15:00:00Z");
        let month_later = written("we repotted the tomatoes", "2023-04-20T15:00:00Z");
        let quiet = written("lovely weather today", "2023-03-10T15:05:00Z");
        let query = "What did they repot on 10 March 2023?";
        let analyzer = Analyzer::english();
        let terms = analyzer.query_terms(query);
        let period = NamedPeriod::in_query(query, analyzer).expect("a date");
        assert_eq!(period.terms(), ["10", "march", "2023"]);
        let lexical = LexicalMatches {
            scope_size: 3,
            average_length: 3.0,
            // repot, 10, march, 2023
            document_frequencies: vec![2, 0, 0, 0],
            documents: vec![doc(&that_day), doc(&month_later)],
        };
        let candidates = dense_candidates(&[&that_day, &month_later, &quiet]);
        let config = HybridConfig::default();
        let coverage = |period: Option<&NamedPeriod>| {
            let fused = fuse(
                candidates.clone(),
                lexical.clone(),
                &terms,
                Some(&basis(4, 0)),
                None,
                period,
                &config,
            );
            move |m: &Message| {
                fused
                    .iter()
                    .find(|f| f.message.id == m.id)
                    .and_then(|f| f.lexical)
                    .expect("hybrid")
            }
        };
        let scorer = crate::text::LexicalScorer::new(config.bm25(), &terms, &[2, 0, 0, 0], 3, 3.0);
        let mass = scorer.idf_mass(&terms);
        let date = scorer.idf_mass(period.terms());
        let repot = scorer.coverage(scorer.score("repot tomato")) * mass;
        assert!(date > 0.0 && repot > 0.0 && (mass - date - repot).abs() < 1e-9);
        // Without the period: only the text counts, and the date words weigh it down.
        let plain = coverage(None);
        assert!((plain(&that_day) - repot / mass).abs() < 1e-12);
        assert_eq!(plain(&that_day), plain(&month_later));
        assert_eq!(plain(&quiet), 0.0);
        // With it: the message written that day covers every query word.
        let dated = coverage(Some(&period));
        assert!((dated(&that_day) - 1.0).abs() < 1e-9);
        assert_eq!(
            dated(&month_later),
            plain(&month_later),
            "written outside it"
        );
        assert!((dated(&quiet) - date / mass).abs() < 1e-12, "the day alone");
    }

    #[test]
    fn a_date_word_in_a_dated_message_s_text_counts_once() {
        // Written that day, and its text names the month too: the word is matched either
        // way, once; the query's other words are not in it.
        let note = written("march was lovely", "2023-03-10T15:10:00Z");
        let other = written("we repotted the tomatoes", "2023-04-20T15:00:00Z");
        let query = "What did they repot on 10 March 2023?";
        let analyzer = Analyzer::english();
        let terms = analyzer.query_terms(query);
        let period = NamedPeriod::in_query(query, analyzer).expect("a date");
        // repot, 10, march, 2023
        let df = [1, 0, 1, 0];
        let lexical = LexicalMatches {
            scope_size: 2,
            average_length: 3.0,
            document_frequencies: df.to_vec(),
            documents: vec![doc(&note), doc(&other)],
        };
        let candidates = dense_candidates(&[&note, &other]);
        let config = HybridConfig::default();
        let fused = fuse(
            candidates,
            lexical,
            &terms,
            Some(&basis(4, 0)),
            None,
            Some(&period),
            &config,
        );
        let got = fused
            .iter()
            .find(|f| f.message.id == note.id)
            .and_then(|f| f.lexical)
            .expect("hybrid");
        let scorer = crate::text::LexicalScorer::new(config.bm25(), &terms, &df, 2, 3.0);
        let expected = scorer.idf_mass(period.terms()) / scorer.idf_mass(&terms);
        assert!(expected < 1.0);
        assert!(
            (got - expected).abs() < 1e-12,
            "coverage {got}, the date's words once: {expected}"
        );
    }

    #[test]
    fn a_query_naming_the_speaker_lifts_their_messages() {
        let said = |who: Option<&str>, text: &str| {
            let mut m = Fixture::new("t", "c1", 2).content(text).build();
            if let Some(who) = who {
                m.metadata = crate::domain::Metadata::parse(serde_json::json!({"speaker": who}))
                    .expect("valid");
            }
            m
        };
        let terms = |q: &str| Analyzer::english().query_terms(q);
        let caroline = said(Some("Caroline"), "I went to a support group");
        let melanie = said(Some("Melanie Jones"), "I painted a sunrise");
        let nobody = said(None, "Caroline: hi");
        let q = terms("What did Caroline and Mel do?");
        let q: HashSet<&str> = q.iter().map(String::as_str).collect();
        assert!(names_speaker(&caroline, &q, &mut HashMap::new()));
        assert!(
            !names_speaker(&melanie, &q, &mut HashMap::new()),
            "Melanie is not Mel"
        );
        assert!(
            !names_speaker(&nobody, &q, &mut HashMap::new()),
            "only the metadata says who spoke"
        );
        let q = terms("what did melanie paint");
        let q: HashSet<&str> = q.iter().map(String::as_str).collect();
        assert!(
            names_speaker(&melanie, &q, &mut HashMap::new()),
            "the first name, any case"
        );
    }
}
