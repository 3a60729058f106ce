//! The in-memory lexical index answers exactly as FTS5 plus the core's ranking do, through
//! every kind of write: inserts, edits, deletes, archiving, erasure of a conversation and of
//! the tenant, and another connection's writes (which it must notice).

use chrono::Duration;
use memory_core::domain::{Filters, Importance, Message};
use memory_core::ports::{
    Editing, Erasure, LexicalMatches, LexicalQuery, LexicalSearch, MessageRecord, MessageStore,
};
use memory_core::testkit::editing::revision;
use memory_core::testkit::{Fixture, archive_old, conv, t0, tenant};
use memory_core::text::{Analyzer, Bm25};
use memory_store_sqlite::{SqliteStore, SqliteStoreOptions};

const DIM: usize = 8;
const WORDS: [&str; 12] = [
    "hiking", "garden", "piano", "sister", "recipe", "camping", "painting", "dog", "concert",
    "beach", "novel", "marathon",
];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn text(&mut self) -> String {
        let n = 1 + self.below(9);
        (0..n)
            .map(|_| WORDS[self.below(WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn message(&mut self, i: usize) -> Message {
        Fixture::new("t", &format!("c{}", self.below(5)), DIM)
            .content(&self.text())
            .importance(self.below(100) as f64 / 100.0)
            // Some old enough to be archived by `archive_old`.
            .created(t0() - Duration::days(if i.is_multiple_of(7) { 60 } else { 1 }))
            .build()
    }
}

fn queries() -> Vec<LexicalQuery> {
    let q = |text: &str, conversation: Option<&str>, min: Option<f64>, limit: usize| LexicalQuery {
        tenant_id: tenant("t"),
        conversation_id: conversation.map(conv),
        importance_min: min.map(Importance::saturating),
        terms: Analyzer::english().query_terms(text),
        bm25: Bm25::default(),
        limit,
        filters: Filters::default(),
    };
    vec![
        q("hiking with my sister", None, None, 50),
        q("piano concert on the beach", None, None, 200),
        q("garden", Some("c1"), None, 20),
        q("recipe novel marathon", None, Some(0.5), 30),
        q("dog camping", Some("c3"), Some(0.3), 1000),
        q("unheard", None, None, 10),
        q("painting", Some("nowhere"), None, 10),
    ]
}

/// What both stores answer, as comparable values: the statistics and the ranked ids.
fn key(m: &LexicalMatches) -> (u64, u64, Vec<u64>, Vec<String>) {
    (
        m.scope_size,
        m.average_length.to_bits(),
        m.document_frequencies.clone(),
        m.documents
            .iter()
            .map(|d| d.message.id.to_string())
            .collect(),
    )
}

async fn assert_same(indexed: &SqliteStore, reference: &SqliteStore, step: &str) {
    for q in queries() {
        let fast = indexed.lexical_candidates(&q).await.expect("indexed");
        let slow = reference.lexical_candidates(&q).await.expect("reference");
        assert_eq!(key(&fast), key(&slow), "{step}: query {:?}", q.terms);
        for (a, b) in fast.documents.iter().zip(&slow.documents) {
            assert_eq!(a.terms, b.terms);
            assert_eq!(a.message, b.message);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_ranks_as_fts5_does_through_every_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("lex.db").display());
    let indexed = SqliteStore::open(&url, DIM).expect("open");
    let reference =
        SqliteStore::open_with(&url, SqliteStoreOptions::new(DIM).lexical_cache_bytes(0))
            .expect("open again");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut messages: Vec<Message> = (0..1500).map(|i| rng.message(i)).collect();
    let records: Vec<MessageRecord> = messages.iter().cloned().map(MessageRecord::new).collect();
    indexed.insert_many(&records).await.expect("insert");
    assert_eq!(indexed.lexical_cache_bytes(), 0, "loaded on first search");
    assert_same(&indexed, &reference, "loaded").await;
    assert!(indexed.lexical_cache_bytes() > 0, "the index is held");

    for i in 0..100 {
        let m = rng.message(i);
        indexed
            .insert(&MessageRecord::new(m.clone()))
            .await
            .expect("insert");
        messages.push(m);
    }
    assert_same(&indexed, &reference, "inserts").await;

    for m in messages.iter_mut().step_by(11) {
        let edit = revision(m, &rng.text(), None);
        assert!(indexed.update(&edit, None).await.expect("update"));
        *m = edit.record.message.clone();
    }
    assert_same(&indexed, &reference, "edits").await;

    for m in messages.iter().skip(3).step_by(13) {
        Editing::delete(&indexed, &tenant("t"), m.id)
            .await
            .expect("delete");
    }
    assert_same(&indexed, &reference, "deletes").await;

    assert!(archive_old(&indexed, "t").await > 0);
    assert_same(&indexed, &reference, "archived").await;

    indexed
        .delete_conversation(&tenant("t"), &conv("c2"))
        .await
        .expect("erase");
    assert_same(&indexed, &reference, "erased").await;

    // Another connection writes: the indexed store must notice at its next search.
    let outside: Vec<MessageRecord> = (0..50)
        .map(|i| MessageRecord::new(rng.message(i)))
        .collect();
    reference.insert_many(&outside).await.expect("insert");
    assert_same(&indexed, &reference, "another connection's inserts").await;

    // Erasing the tenant drops its postings: nothing is left to match.
    indexed
        .delete_tenant(&tenant("t"))
        .await
        .expect("erase tenant");
    assert_same(&indexed, &reference, "tenant erased").await;
    let gone = indexed
        .lexical_candidates(&queries()[0])
        .await
        .expect("lexical");
    assert_eq!((gone.scope_size, gone.documents.len()), (0, 0));
}
