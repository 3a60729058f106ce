//! Exact nearest-neighbour search: a fast dot product, a top-k heap, and the per-tenant
//! in-memory index of unit-normalised vectors.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};

use memory_core::domain::MessageId;

const LANES: usize = 16;

/// Dot product with independent accumulators, so the compiler vectorises the loop (no
/// `unsafe`, no target features needed). Extra elements of the longer slice are ignored.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ac, ar) = a.as_chunks::<LANES>();
    let (bc, br) = b.as_chunks::<LANES>();
    for (x, y) in ac.iter().zip(bc) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// `v` scaled to unit length, in place (an all-zero vector stays zero).
pub fn normalise(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in v {
            *x /= norm;
        }
    }
}

/// A scored candidate: higher similarity is better; ties go to the smaller id.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    /// Cosine similarity.
    pub similarity: f32,
    /// The message.
    pub id: MessageId,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    /// `Greater` means better.
    fn cmp(&self, other: &Self) -> Ordering {
        self.similarity
            .total_cmp(&other.similarity)
            .then_with(|| other.id.cmp(&self.id))
    }
}

/// The `k` best of a stream of candidates.
#[derive(Debug)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Scored>>,
}

impl TopK {
    /// Keeps at most `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.min(4096) + 1),
        }
    }

    /// The similarity a candidate must beat to enter, once full.
    #[inline]
    pub fn threshold(&self) -> Option<f32> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap.peek().map(|r| r.0.similarity)
        }
    }

    /// Offers a candidate.
    #[inline]
    pub fn push(&mut self, c: Scored) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Reverse(c));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && c > worst.0
        {
            *worst = Reverse(c);
        }
    }

    /// Merges another top-k into this one.
    pub fn merge(&mut self, other: TopK) {
        for Reverse(c) in other.heap {
            self.push(c);
        }
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<Scored> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }
}

/// What a search keeps.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    /// Only this conversation.
    pub conversation: Option<&'a str>,
    /// Only importance at least this.
    pub importance_min: Option<f64>,
    /// Only these messages (what a query's time range and metadata conditions admit).
    pub allowed: Option<&'a HashSet<MessageId>>,
}

/// One tenant's searchable messages (non-archived, embedding completed) as unit vectors in one
/// contiguous buffer, with parallel arrays of what the filters need.
#[derive(Debug)]
pub struct TenantIndex {
    dim: usize,
    vectors: Vec<f32>,
    ids: Vec<MessageId>,
    conversations: Vec<u32>,
    importance: Vec<f64>,
    conversation_ids: HashMap<String, u32>,
    positions: HashMap<MessageId, usize>,
}

impl TenantIndex {
    /// Empty, for vectors of `dim` values.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            vectors: Vec::new(),
            ids: Vec::new(),
            conversations: Vec::new(),
            importance: Vec::new(),
            conversation_ids: HashMap::new(),
            positions: HashMap::new(),
        }
    }

    /// Empty, with room for `n` messages.
    pub fn with_capacity(dim: usize, n: usize) -> Self {
        let mut s = Self::new(dim);
        s.vectors.reserve_exact(n * dim);
        s.ids.reserve_exact(n);
        s.conversations.reserve_exact(n);
        s.importance.reserve_exact(n);
        s.positions.reserve(n);
        s
    }

    /// Number of messages held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Approximate heap bytes held.
    pub fn bytes(&self) -> usize {
        estimate_bytes(self.vectors.capacity() / self.dim.max(1), self.dim)
    }

    /// Adds or replaces a message. `vector` need not be normalised.
    pub fn upsert(&mut self, id: MessageId, conversation: &str, importance: f64, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dim);
        let next = u32::try_from(self.conversation_ids.len()).unwrap_or(u32::MAX);
        let conv = *self
            .conversation_ids
            .entry(conversation.to_owned())
            .or_insert(next);
        let slot = match self.positions.get(&id) {
            Some(&i) => {
                self.vectors[i * self.dim..(i + 1) * self.dim].copy_from_slice(vector);
                self.conversations[i] = conv;
                self.importance[i] = importance;
                i
            }
            None => {
                let i = self.ids.len();
                self.vectors.extend_from_slice(vector);
                self.ids.push(id);
                self.conversations.push(conv);
                self.importance.push(importance);
                self.positions.insert(id, i);
                i
            }
        };
        normalise(&mut self.vectors[slot * self.dim..(slot + 1) * self.dim]);
    }

    /// Removes a message if held.
    pub fn remove(&mut self, id: &MessageId) {
        let Some(i) = self.positions.remove(id) else {
            return;
        };
        let last = self.ids.len() - 1;
        if i != last {
            let d = self.dim;
            self.vectors.copy_within(last * d..(last + 1) * d, i * d);
            self.ids[i] = self.ids[last];
            self.conversations[i] = self.conversations[last];
            self.importance[i] = self.importance[last];
            self.positions.insert(self.ids[i], i);
        }
        self.vectors.truncate(last * self.dim);
        self.ids.truncate(last);
        self.conversations.truncate(last);
        self.importance.truncate(last);
    }

    /// The `limit` most similar messages passing `filter`, using up to `threads` threads
    /// (`0`: one per available core). `query` must be unit-normalised.
    pub fn search(
        &self,
        query: &[f32],
        filter: Filter<'_>,
        limit: usize,
        threads: usize,
    ) -> Vec<Scored> {
        let conv = match filter.conversation {
            Some(c) => match self.conversation_ids.get(c) {
                Some(&id) => Some(id),
                None => return Vec::new(),
            },
            None => None,
        };
        let scan = Scan {
            index: self,
            query,
            conv,
            importance_min: filter.importance_min,
            allowed: filter.allowed,
            limit,
        };
        // Split the scan across threads only when each gets enough rows to pay for its start.
        const MIN_ROWS_PER_THREAD: usize = 16_384;
        let n = self.len();
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |p| p.get())
        } else {
            threads
        }
        .min(n / MIN_ROWS_PER_THREAD)
        .max(1);
        if threads == 1 {
            return scan.run(0..n).into_sorted();
        }
        let chunk = n.div_ceil(threads);
        let mut top = TopK::new(limit);
        std::thread::scope(|s| {
            let scan = &scan;
            let handles: Vec<_> = (1..threads)
                .map(|t| s.spawn(move || scan.run(t * chunk..((t + 1) * chunk).min(n))))
                .collect();
            top.merge(scan.run(0..chunk.min(n)));
            for h in handles {
                match h.join() {
                    Ok(t) => top.merge(t),
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
        });
        top.into_sorted()
    }
}

/// One search over a range of an index.
struct Scan<'a> {
    index: &'a TenantIndex,
    query: &'a [f32],
    conv: Option<u32>,
    importance_min: Option<f64>,
    allowed: Option<&'a HashSet<MessageId>>,
    limit: usize,
}

impl Scan<'_> {
    fn run(&self, range: std::ops::Range<usize>) -> TopK {
        let ix = self.index;
        let d = ix.dim;
        let mut top = TopK::new(self.limit);
        let mut threshold = f32::NEG_INFINITY;
        let allowed = self.allowed;
        let mut offer = |i: usize, sim: f32, top: &mut TopK| {
            if sim < threshold || allowed.is_some_and(|a| !a.contains(&ix.ids[i])) {
                return;
            }
            top.push(Scored {
                similarity: sim,
                id: ix.ids[i],
            });
            if let Some(t) = top.threshold() {
                threshold = t;
            }
        };
        match self.conv {
            // A conversation is a small part of a tenant: skip the others' vectors.
            Some(c) => {
                for i in range {
                    if ix.conversations[i] != c
                        || self.importance_min.is_some_and(|m| ix.importance[i] < m)
                    {
                        continue;
                    }
                    let sim = dot(self.query, &ix.vectors[i * d..(i + 1) * d]).clamp(-1.0, 1.0);
                    offer(i, sim, &mut top);
                }
            }
            // Otherwise read the buffer front to back, filtering after the dot product:
            // skipping rows at random breaks the hardware prefetcher's stream and costs more
            // than the arithmetic it saves.
            None => {
                for i in range {
                    let sim = dot(self.query, &ix.vectors[i * d..(i + 1) * d]).clamp(-1.0, 1.0);
                    if self.importance_min.is_some_and(|m| ix.importance[i] < m) {
                        continue;
                    }
                    offer(i, sim, &mut top);
                }
            }
        }
        top
    }
}

/// Approximate bytes an index of `n` vectors of `dim` values takes.
pub fn estimate_bytes(n: usize, dim: usize) -> usize {
    // vector + id + conversation + importance + position map entry (key, value, control).
    n * (dim * 4 + 16 + 4 + 8 + 16 + 8 + 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use memory_core::domain::cosine_similarity;

    fn pseudo_random(seed: u64, n: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn dot_matches_naive() {
        for n in [0, 1, 7, 16, 17, 384, 385] {
            let a = pseudo_random(1, n);
            let b = pseudo_random(2, n);
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "n={n}");
        }
    }

    #[test]
    fn index_search_is_exact_and_survives_updates() {
        let dim = 24;
        let mut idx = TenantIndex::new(dim);
        let mut all = Vec::new();
        for i in 0..200u64 {
            let id = MessageId::new();
            let v = pseudo_random(i + 10, dim);
            let conv = if i % 3 == 0 { "a" } else { "b" };
            let imp = (i % 10) as f64 / 10.0;
            idx.upsert(id, conv, imp, &v);
            all.push((id, conv, imp, v));
        }
        // Remove every fifth, replace every seventh.
        for (i, (id, _, _, v)) in all.iter_mut().enumerate() {
            if i % 7 == 0 {
                *v = pseudo_random(1000 + i as u64, dim);
                idx.upsert(
                    *id,
                    if i % 3 == 0 { "a" } else { "b" },
                    (i % 10) as f64 / 10.0,
                    v,
                );
            }
        }
        let removed: Vec<MessageId> = all.iter().step_by(5).map(|r| r.0).collect();
        for id in &removed {
            idx.remove(id);
        }
        all.retain(|r| !removed.contains(&r.0));
        assert_eq!(idx.len(), all.len());

        let mut q = pseudo_random(77, dim);
        for (conv, min) in [(None, None), (Some("a"), None), (Some("b"), Some(0.5))] {
            let mut expected: Vec<(MessageId, f32)> = all
                .iter()
                .filter(|r| conv.is_none_or(|c| c == r.1) && min.is_none_or(|m| r.2 >= m))
                .map(|r| (r.0, cosine_similarity(&q, &r.3)))
                .collect();
            expected.sort_by(|a, b| b.1.total_cmp(&a.1));
            expected.truncate(10);
            let mut qn = q.clone();
            normalise(&mut qn);
            let got = idx.search(
                &qn,
                Filter {
                    conversation: conv,
                    importance_min: min,
                    allowed: None,
                },
                10,
                1,
            );
            assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(&expected) {
                assert_eq!(g.id, e.0);
                assert!((g.similarity - e.1).abs() < 1e-5);
            }
        }
        q.iter_mut().for_each(|x| *x = 0.0);
        assert!(
            idx.search(
                &q,
                Filter {
                    conversation: Some("zzz"),
                    importance_min: None,
                    allowed: None,
                },
                5,
                0
            )
            .is_empty()
        );
    }

    #[test]
    fn threaded_scan_equals_single_threaded() {
        let dim = 8;
        let mut idx = TenantIndex::new(dim);
        for i in 0..50_000u64 {
            let id = MessageId::from_uuid(uuid::Uuid::from_u128(u128::from(i) + 1));
            let conv = if i % 100 == 0 { "rare" } else { "common" };
            idx.upsert(id, conv, (i % 7) as f64 / 7.0, &pseudo_random(i, dim));
        }
        let mut q = pseudo_random(424_242, dim);
        normalise(&mut q);
        for filter in [
            Filter {
                conversation: None,
                importance_min: None,
                allowed: None,
            },
            Filter {
                conversation: None,
                importance_min: Some(0.5),
                allowed: None,
            },
            Filter {
                conversation: Some("rare"),
                importance_min: Some(0.2),
                allowed: None,
            },
        ] {
            let one: Vec<MessageId> = idx.search(&q, filter, 50, 1).iter().map(|s| s.id).collect();
            let many: Vec<MessageId> = idx.search(&q, filter, 50, 3).iter().map(|s| s.id).collect();
            assert_eq!(one.len(), 50);
            assert_eq!(one, many);
        }
    }

    #[test]
    fn top_k_keeps_the_best_and_breaks_ties_by_id() {
        let ids: Vec<MessageId> = (0..5u128)
            .map(|i| MessageId::from_uuid(uuid::Uuid::from_u128(i + 1)))
            .collect();
        let mut t = TopK::new(3);
        for (i, id) in ids.iter().enumerate() {
            t.push(Scored {
                similarity: if i < 2 { 0.5 } else { i as f32 / 10.0 },
                id: *id,
            });
        }
        let got: Vec<MessageId> = t.into_sorted().into_iter().map(|s| s.id).collect();
        assert_eq!(got, vec![ids[0], ids[1], ids[4]]);
        let mut none = TopK::new(0);
        none.push(Scored {
            similarity: 1.0,
            id: ids[0],
        });
        assert!(none.into_sorted().is_empty());
    }
}
