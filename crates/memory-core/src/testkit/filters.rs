//! Contract checks of search filters: on random metadata and random filters, vector and
//! lexical candidates are exactly what [`crate::domain::Filters::admits`] (the brute-force
//! oracle) says. Seeded, so a failure names a reproducible case.

use chrono::Duration;
use serde_json::{Map, Value, json};

use super::{Fixture, basis, insert, t0, tenant, tilted};
use crate::domain::{Filters, Message, MessageId};
use crate::ports::{CandidateQuery, LexicalQuery, LexicalSearch, MessageStore, VectorSearch};
use crate::scoring::HybridConfig;
use crate::text::Analyzer;

/// A small deterministic generator (xorshift64*): the suite must not depend on `rand`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: [&str; 4] = ["k0", "k1", "tags", "name"];

fn scalar(rng: &mut Rng) -> Value {
    rng.pick(&[
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(2),
        json!(-1),
        json!(1.0),
        json!(2.5),
        json!("a"),
        json!("b"),
        json!("ab"),
        json!("Zoë"),
        json!(""),
    ])
    .clone()
}

/// Random metadata: some keys missing, values of every JSON type.
pub fn random_metadata(rng: &mut Rng) -> Value {
    let mut map = Map::new();
    for key in KEYS {
        match rng.below(6) {
            0 => {}
            1 => {
                let n = rng.below(4);
                map.insert(
                    key.into(),
                    Value::Array((0..n).map(|_| scalar(rng)).collect()),
                );
            }
            2 => {
                map.insert(key.into(), json!({"x": scalar(rng)}));
            }
            _ => {
                map.insert(key.into(), scalar(rng));
            }
        }
    }
    Value::Object(map)
}

/// A random filter in its JSON form, nesting up to `depth` levels.
pub fn random_filter(rng: &mut Rng, depth: usize) -> Value {
    if depth > 0 && rng.below(3) == 0 {
        let n = 1 + rng.below(3);
        let parts: Vec<Value> = (0..n).map(|_| random_filter(rng, depth - 1)).collect();
        return match rng.below(3) {
            0 => json!({"AND": parts}),
            1 => json!({"OR": parts}),
            _ => json!({"NOT": parts[0]}),
        };
    }
    let key = *rng.pick(&["k0", "k1", "tags", "name", "absent"]);
    let operand = match rng.below(10) {
        0 => scalar(rng),
        1 => json!({"eq": scalar(rng)}),
        2 => json!({"ne": scalar(rng)}),
        3 => json!({"in": [scalar(rng), scalar(rng)]}),
        4 => json!({"nin": [scalar(rng)]}),
        5 => {
            let bound = rng
                .pick(&[
                    json!(0),
                    json!(1),
                    json!(1.5),
                    json!("a"),
                    json!("b"),
                    json!("Z"),
                ])
                .clone();
            let op = *rng.pick(&["gt", "gte", "lt", "lte"]);
            json!({ op: bound })
        }
        6 | 7 => json!({"contains": scalar(rng)}),
        8 => json!({"exists": rng.below(2) == 0}),
        _ => json!({"gte": 0, "lt": 2}),
    };
    json!({ key: operand })
}

/// Stores 48 messages of tenant `acme` (and a few of `other`) with random metadata, dates
/// over two days and embeddings, all containing the word `umbrella`.
async fn seed<S: MessageStore>(store: &S, dim: usize, rng: &mut Rng) -> Vec<Message> {
    let mut out = Vec::new();
    for i in 0..48 {
        let metadata = crate::domain::Metadata::parse(random_metadata(rng)).expect("valid");
        let mut m = Fixture::new("acme", &format!("c{}", i % 3), dim)
            .content(&format!("note {i} about the umbrella"))
            .created(t0() - Duration::hours(i as i64))
            .embedded(tilted(dim, i as f32 * 0.03))
            .build();
        m.metadata = metadata;
        insert(store, &m).await.expect("insert");
        out.push(m);
    }
    for _ in 0..4 {
        let m = Fixture::new("other", "c0", dim)
            .content("the umbrella of another tenant")
            .embedded(basis(dim, 0))
            .build();
        insert(store, &m).await.expect("insert");
    }
    out
}

fn random_filters(rng: &mut Rng) -> (Value, Filters) {
    let f = random_filter(rng, 3);
    let after = (rng.below(4) == 0).then(|| t0() - Duration::hours(rng.below(48) as i64));
    let before = (rng.below(4) == 0)
        .then(|| t0() - Duration::hours(rng.below(24) as i64) + Duration::minutes(30));
    let filters = match Filters::parse(after, before, Some(&f)) {
        Ok(filters) => filters,
        // An empty time range is refused: drop it, keep the metadata filter.
        Err(_) => Filters::parse(None, None, Some(&f)).expect("generated filters are valid"),
    };
    (f, filters)
}

fn expected(messages: &[Message], filters: &Filters) -> Vec<MessageId> {
    let mut ids: Vec<MessageId> = messages
        .iter()
        .filter(|m| filters.admits(m.created_at, &m.metadata))
        .map(|m| m.id)
        .collect();
    ids.sort();
    ids
}

/// Vector candidates under 150 random filters are exactly the oracle's, and a small limit
/// still returns as many rows as match (filters are applied before the limit).
pub async fn vector_filters_match_the_oracle<S: MessageStore + VectorSearch>(
    store: &S,
    dim: usize,
) {
    let mut rng = Rng::new(0x5eed_f117);
    let messages = seed(store, dim, &mut rng).await;
    let mut partial = 0;
    for case in 0..150 {
        let (json, filters) = random_filters(&mut rng);
        let want = expected(&messages, &filters);
        partial += usize::from(!want.is_empty() && want.len() < messages.len());
        let q = CandidateQuery {
            tenant_id: tenant("acme"),
            conversation_id: None,
            importance_min: None,
            embedding: basis(dim, 0),
            limit: 1000,
            filters: filters.clone(),
        };
        let mut got: Vec<MessageId> = store
            .search_candidates(&q)
            .await
            .expect("search")
            .into_iter()
            .map(|c| c.message.id)
            .collect();
        got.sort();
        assert_eq!(
            got, want,
            "case {case}: filter {json} (time {:?}..{:?})",
            filters.created_after, filters.created_before
        );
        let small = store
            .search_candidates(&CandidateQuery { limit: 3, ..q })
            .await
            .expect("search");
        assert_eq!(
            small.len(),
            want.len().min(3),
            "case {case}: a limit of 3 under {json}"
        );
        // The nearest to axis 0 are the least tilted: the newest messages first.
        let mut nearest: Vec<&Message> = messages.iter().filter(|m| want.contains(&m.id)).collect();
        nearest.sort_by_key(|m| std::cmp::Reverse(m.created_at));
        let nearest: Vec<MessageId> = nearest.iter().take(3).map(|m| m.id).collect();
        assert_eq!(
            small.iter().map(|c| c.message.id).collect::<Vec<_>>(),
            nearest,
            "case {case}: {json}"
        );
    }
    assert!(
        partial >= 50,
        "the generator must produce selective filters: {partial} of 150"
    );
}

/// Lexical matches under 100 random filters are exactly the oracle's.
pub async fn lexical_filters_match_the_oracle<S: MessageStore + LexicalSearch>(
    store: &S,
    dim: usize,
) {
    let mut rng = Rng::new(0x01e8_1ca1);
    let messages = seed(store, dim, &mut rng).await;
    for case in 0..100 {
        let (mut json, mut filters) = random_filters(&mut rng);
        if case % 3 == 0 {
            // A time range alone (or nothing): a store may answer it from an in-memory index.
            filters.metadata = None;
            json = Value::String(format!(
                "time only: {:?}..{:?}",
                filters.created_after, filters.created_before
            ));
        }
        let want = expected(&messages, &filters);
        let q = LexicalQuery {
            tenant_id: tenant("acme"),
            conversation_id: None,
            importance_min: None,
            terms: Analyzer::english().query_terms("umbrella"),
            bm25: HybridConfig::default().bm25(),
            limit: 1000,
            filters,
        };
        let matches = store.lexical_candidates(&q).await.expect("lexical");
        let mut got: Vec<MessageId> = matches.documents.iter().map(|d| d.message.id).collect();
        got.sort();
        assert_eq!(got, want, "case {case}: filter {json}");
        assert_eq!(
            matches.scope_size, 48,
            "the scope statistics are not filtered"
        );
    }
}
