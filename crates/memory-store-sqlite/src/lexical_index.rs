//! One tenant's lexical index held in memory: the postings of its non-archived messages'
//! analysed terms, so a whole-tenant query ranks its matches without reading each of them
//! from SQLite.
//!
//! The ranking is the core's, exactly: the scope statistics are the ones `lexical_scopes`
//! holds (every non-archived message, its `lexical_length`), the document frequencies count
//! the scope's postings, and each match's score is the sum of
//! [`LexicalScorer::term_score`] over the query terms it holds, in the query's order: the
//! same additions [`LexicalScorer::score`] makes on its text. Ties go by id, as in
//! [`memory_core::ports::rank_matches`]. A test checks both paths against each other.

use std::collections::HashMap;

use memory_core::domain::MessageId;
use memory_core::ports::LexicalQuery;
use memory_core::text::LexicalScorer;

use crate::rows::to_micros;
use crate::tenant_cache::Held;

/// A message as the index takes it.
pub(crate) struct IndexedDoc<'a> {
    pub(crate) id: MessageId,
    pub(crate) conversation: &'a str,
    pub(crate) importance: f64,
    /// `created_at` in microseconds since the epoch (what a search's time range compares).
    pub(crate) created_at: i64,
    /// The analysed terms, space-separated; `None` for a message not analysed yet (it
    /// counts in the scope, with length 0, and matches nothing).
    pub(crate) terms: Option<&'a str>,
    /// Its `lexical_length` (what the scope statistics add up).
    pub(crate) stat_length: u64,
}

/// A scope's statistics: messages and their total length.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Stats {
    documents: u64,
    terms: u64,
}

impl Stats {
    fn add(&mut self, d: &Doc) {
        self.documents += 1;
        self.terms += d.stat_length;
    }

    fn sub(&mut self, d: &Doc) {
        self.documents = self.documents.saturating_sub(1);
        self.terms = self.terms.saturating_sub(d.stat_length);
    }
}

struct Doc {
    id: MessageId,
    conversation: u32,
    importance: f64,
    created_at: i64,
    /// Number of terms in its analysed text (what BM25 normalises by).
    length: u32,
    stat_length: u64,
    live: bool,
}

#[derive(Clone, Copy)]
struct Posting {
    slot: u32,
    tf: u32,
}

/// What [`LexicalIndex::search`] found: the statistics and the best ids, best first.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct IndexMatches {
    pub(crate) scope_size: u64,
    pub(crate) average_length: f64,
    pub(crate) document_frequencies: Vec<u64>,
    pub(crate) best: Vec<MessageId>,
}

/// Removed messages leave dead slots behind; past this many (and half the slots) the
/// postings are rewritten without them.
const COMPACT_AFTER: usize = 1024;

/// One tenant's postings; see the module.
#[derive(Default)]
pub(crate) struct LexicalIndex {
    docs: Vec<Doc>,
    slots: HashMap<MessageId, u32>,
    conversation_ids: HashMap<Box<str>, u32>,
    conversation_stats: Vec<Stats>,
    total: Stats,
    term_ids: HashMap<Box<str>, u32>,
    postings: Vec<Vec<Posting>>,
    posting_count: usize,
    dead: usize,
}

/// Bytes a tenant of `documents` messages with `terms` terms in all will take, about.
pub(crate) fn estimate_bytes(documents: u64, terms: u64) -> usize {
    usize::try_from(
        documents
            .saturating_mul(120)
            .saturating_add(terms.saturating_mul(10)),
    )
    .unwrap_or(usize::MAX)
}

impl Held for LexicalIndex {
    fn bytes(&self) -> usize {
        self.docs.capacity() * std::mem::size_of::<Doc>()
            + self.slots.capacity() * 40
            + self.posting_count * std::mem::size_of::<Posting>()
            + self.postings.capacity() * std::mem::size_of::<Vec<Posting>>()
            + self.term_ids.capacity() * 40
    }
}

impl LexicalIndex {
    /// Messages held (not archived).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds a message, or replaces the one with its id.
    pub(crate) fn upsert(&mut self, d: &IndexedDoc<'_>) {
        self.remove(&d.id);
        let Ok(slot) = u32::try_from(self.docs.len()) else {
            return;
        };
        let next = u32::try_from(self.conversation_ids.len()).unwrap_or(u32::MAX);
        let conversation = *self
            .conversation_ids
            .entry(d.conversation.into())
            .or_insert(next);
        if conversation as usize >= self.conversation_stats.len() {
            self.conversation_stats.push(Stats::default());
        }
        let mut tokens: Vec<&str> = d
            .terms
            .unwrap_or("")
            .split(' ')
            .filter(|t| !t.is_empty())
            .collect();
        let length = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        tokens.sort_unstable();
        let mut i = 0;
        while i < tokens.len() {
            let term = tokens[i];
            let run = tokens[i..].iter().take_while(|t| **t == term).count();
            let next = u32::try_from(self.term_ids.len()).unwrap_or(u32::MAX);
            let id = *self.term_ids.entry(term.into()).or_insert(next);
            if id as usize >= self.postings.len() {
                self.postings.push(Vec::new());
            }
            self.postings[id as usize].push(Posting {
                slot,
                tf: u32::try_from(run).unwrap_or(u32::MAX),
            });
            self.posting_count += 1;
            i += run;
        }
        let doc = Doc {
            id: d.id,
            conversation,
            importance: d.importance,
            created_at: d.created_at,
            length,
            stat_length: d.stat_length,
            live: true,
        };
        self.total.add(&doc);
        self.conversation_stats[conversation as usize].add(&doc);
        self.docs.push(doc);
        self.slots.insert(d.id, slot);
    }

    /// Removes a message if held.
    pub(crate) fn remove(&mut self, id: &MessageId) {
        let Some(slot) = self.slots.remove(id) else {
            return;
        };
        let doc = &mut self.docs[slot as usize];
        doc.live = false;
        self.total.sub(doc);
        self.conversation_stats[doc.conversation as usize].sub(doc);
        self.dead += 1;
        if self.dead > COMPACT_AFTER && self.dead * 2 > self.docs.len() {
            self.compact();
        }
    }

    /// Rewrites the documents and postings without the dead slots.
    fn compact(&mut self) {
        let mut remap = vec![u32::MAX; self.docs.len()];
        let mut next = 0u32;
        for (old, doc) in self.docs.iter().enumerate() {
            if doc.live {
                remap[old] = next;
                next += 1;
            }
        }
        self.docs.retain(|d| d.live);
        self.docs.shrink_to_fit();
        self.posting_count = 0;
        for list in &mut self.postings {
            list.retain_mut(|p| {
                p.slot = remap[p.slot as usize];
                p.slot != u32::MAX
            });
            list.shrink_to_fit();
            self.posting_count += list.len();
        }
        self.slots = self
            .docs
            .iter()
            .enumerate()
            .map(|(slot, d)| (d.id, slot as u32))
            .collect();
        self.dead = 0;
    }

    /// The best `q.limit` matches of `q` in its scope (conversation, `importance_min`),
    /// ranked by the core's BM25; see the module. A time range in `q.filters` narrows the
    /// matches (and so the document frequencies), not the scope's statistics, as the
    /// `LexicalSearch` contract says; metadata conditions are the caller's (it must not
    /// call this with them).
    pub(crate) fn search(&self, q: &LexicalQuery) -> IndexMatches {
        debug_assert!(q.filters.metadata.is_none(), "metadata filters go to FTS5");
        let conversation = match &q.conversation_id {
            Some(c) => match self.conversation_ids.get(c.as_str()) {
                Some(&i) => Some(i),
                None => return self.nothing(q),
            },
            None => None,
        };
        let min = q.importance_min.map(|i| i.value());
        let admits = |d: &Doc| {
            d.live
                && conversation.is_none_or(|c| d.conversation == c)
                && min.is_none_or(|m| d.importance >= m)
        };
        let stats = match (conversation, min) {
            (None, None) => self.total,
            (Some(c), None) => self.conversation_stats[c as usize],
            _ => {
                let mut s = Stats::default();
                for d in self.docs.iter().filter(|d| admits(d)) {
                    s.add(d);
                }
                s
            }
        };
        if stats.documents == 0 {
            return self.nothing(q);
        }
        let after = q.filters.created_after.map(to_micros);
        let before = q.filters.created_before.map(to_micros);
        let passes = |d: &Doc| {
            admits(d)
                && after.is_none_or(|a| d.created_at >= a)
                && before.is_none_or(|b| d.created_at < b)
        };
        let average_length = stats.terms as f64 / stats.documents as f64;
        let lists: Vec<&[Posting]> = q
            .terms
            .iter()
            .map(|t| {
                self.term_ids
                    .get(t.as_str())
                    .map_or(&[][..], |&id| &self.postings[id as usize])
            })
            .collect();
        let document_frequencies: Vec<u64> = lists
            .iter()
            .map(|list| {
                list.iter()
                    .filter(|p| passes(&self.docs[p.slot as usize]))
                    .count() as u64
            })
            .collect();
        let scorer = LexicalScorer::new(
            q.bm25,
            &q.terms,
            &document_frequencies,
            stats.documents,
            average_length,
        );
        // Every term's share is positive, so a slot still at 0 has not matched yet.
        let mut scores = vec![0.0f64; self.docs.len()];
        let mut matched: Vec<u32> = Vec::new();
        for (i, list) in lists.iter().enumerate() {
            for p in *list {
                let doc = &self.docs[p.slot as usize];
                if !passes(doc) {
                    continue;
                }
                let score = &mut scores[p.slot as usize];
                if *score == 0.0 {
                    matched.push(p.slot);
                }
                *score += scorer.term_score(i, p.tf, doc.length);
            }
        }
        let mut ranked: Vec<(f64, MessageId)> = matched
            .iter()
            .map(|&s| (scores[s as usize], self.docs[s as usize].id))
            .collect();
        let order = |a: &(f64, MessageId), b: &(f64, MessageId)| {
            b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1))
        };
        if ranked.len() > q.limit {
            ranked.select_nth_unstable_by(q.limit, order);
            ranked.truncate(q.limit);
        }
        ranked.sort_unstable_by(order);
        IndexMatches {
            scope_size: stats.documents,
            average_length,
            document_frequencies,
            best: ranked.into_iter().map(|(_, id)| id).collect(),
        }
    }

    /// The answer for an empty scope.
    fn nothing(&self, q: &LexicalQuery) -> IndexMatches {
        IndexMatches {
            document_frequencies: vec![0; q.terms.len()],
            ..IndexMatches::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memory_core::domain::{ConversationId, Importance, TenantId};
    use memory_core::ports::rank_matches;
    use memory_core::text::Bm25;

    fn query(terms: &[&str], conversation: Option<&str>, min: Option<f64>) -> LexicalQuery {
        LexicalQuery {
            tenant_id: TenantId::parse("t").expect("valid"),
            conversation_id: conversation.map(|c| ConversationId::parse(c).expect("valid")),
            importance_min: min.map(|m| Importance::new(m).expect("valid")),
            terms: terms.iter().map(|t| (*t).to_owned()).collect(),
            bm25: Bm25::default(),
            limit: 7,
            filters: Default::default(),
        }
    }

    struct Row {
        id: MessageId,
        conversation: &'static str,
        importance: f64,
        created_at: i64,
        terms: String,
        live: bool,
    }

    /// Pseudo-random rows over a small vocabulary, some removed, some replaced.
    fn rows() -> Vec<Row> {
        const WORDS: [&str; 6] = ["cat", "dog", "bird", "fish", "cow", "owl"];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        (0..3000)
            .map(|i| {
                let words = 1 + next(8);
                let terms = (0..words)
                    .map(|_| WORDS[next(6) as usize])
                    .collect::<Vec<_>>()
                    .join(" ");
                Row {
                    id: MessageId::new(),
                    conversation: if next(4) == 0 { "small" } else { "big" },
                    importance: next(100) as f64 / 100.0,
                    created_at: i as i64,
                    terms,
                    live: i % 5 != 3,
                }
            })
            .collect()
    }

    /// The same query through the index and through `rank_matches` over every match.
    fn both(index: &LexicalIndex, rows: &[Row], q: &LexicalQuery) -> (IndexMatches, IndexMatches) {
        let fast = index.search(q);
        let min = q.importance_min.map(|i| i.value()).unwrap_or(f64::MIN);
        let scope: Vec<&Row> = rows
            .iter()
            .filter(|r| r.live && r.importance >= min)
            .filter(|r| {
                q.conversation_id
                    .as_ref()
                    .is_none_or(|c| c.as_str() == r.conversation)
            })
            .collect();
        let documents = scope.len() as u64;
        let terms: usize = scope.iter().map(|r| r.terms.split(' ').count()).sum();
        let average = terms as f64 / documents as f64;
        let after = q.filters.created_after.map(to_micros).unwrap_or(i64::MIN);
        let before = q.filters.created_before.map(to_micros).unwrap_or(i64::MAX);
        let matches = scope
            .iter()
            .filter(|r| r.created_at >= after && r.created_at < before)
            .filter(|r| r.terms.split(' ').any(|t| q.terms.iter().any(|q| q == t)))
            .map(|r| (r.id, r.terms.clone(), ()))
            .collect();
        let ranked = rank_matches(q, documents, average, matches);
        let slow = IndexMatches {
            scope_size: documents,
            average_length: average,
            document_frequencies: ranked.document_frequencies,
            best: ranked.best.into_iter().map(|(id, ())| id).collect(),
        };
        (fast, slow)
    }

    /// Every row in an index, removed ones included (the tests remove them after).
    fn indexed(rows: &[Row]) -> LexicalIndex {
        let mut index = LexicalIndex::default();
        for r in rows {
            index.upsert(&IndexedDoc {
                id: r.id,
                conversation: r.conversation,
                importance: r.importance,
                created_at: r.created_at,
                terms: Some(&r.terms),
                stat_length: r.terms.split(' ').count() as u64,
            });
        }
        index
    }

    #[test]
    fn ranks_exactly_as_the_core_does_in_every_scope() {
        let rows = rows();
        let mut index = indexed(&rows);
        for r in rows.iter().filter(|r| !r.live) {
            index.remove(&r.id);
        }
        assert_eq!(index.len(), rows.iter().filter(|r| r.live).count());
        for q in [
            query(&["cat", "owl"], None, None),
            query(&["dog"], Some("small"), None),
            query(&["fish", "cow", "bird"], None, Some(0.5)),
            query(&["owl", "cat"], Some("big"), Some(0.2)),
            query(&["zebra", "cow"], None, None),
        ] {
            let (fast, slow) = both(&index, &rows, &q);
            assert_eq!(fast.best.len(), q.limit);
            assert_eq!(fast, slow, "query {:?}", q.terms);
        }
        // A time range narrows the matches and their document frequencies, not the scope.
        let at = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).expect("valid");
        for (after, before) in [
            (Some(1000), Some(2500)),
            (None, Some(40)),
            (Some(2990), None),
        ] {
            for mut q in [
                query(&["cat", "owl"], None, None),
                query(&["dog", "cow"], Some("big"), Some(0.3)),
            ] {
                q.filters.created_after = after.map(at);
                q.filters.created_before = before.map(at);
                let (fast, slow) = both(&index, &rows, &q);
                assert_eq!(fast, slow, "query {:?} in {after:?}..{before:?}", q.terms);
            }
        }
        let none = index.search(&query(&["cat"], Some("absent"), None));
        assert_eq!(none.scope_size, 0);
        assert!(none.best.is_empty());
    }

    #[test]
    fn compaction_keeps_the_answers() {
        let rows = rows();
        let mut index = indexed(&rows);
        // Remove two thirds: past the threshold, so the postings are rewritten.
        let mut rows = rows;
        for (i, r) in rows.iter_mut().enumerate() {
            r.live = i % 3 == 0;
            if !r.live {
                index.remove(&r.id);
            }
        }
        assert!(index.dead < COMPACT_AFTER, "compacted");
        let q = query(&["bird", "dog"], None, None);
        let (fast, slow) = both(&index, &rows, &q);
        assert_eq!(fast, slow);
    }
}
