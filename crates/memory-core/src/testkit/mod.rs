//! The repository contract suite (feature `testkit`).
//!
//! Every [`MessageRepository`] + [`RetentionPolicyStore`] adapter runs these checks against
//! itself: `memory_core::testkit::run_all(|| async { fresh_store() }, 384).await`. They are
//! plain async functions, executor-agnostic; each takes a factory that returns an empty store,
//! and panics with a message naming the broken rule.

mod fixtures;

use std::future::Future;

use chrono::Duration;
use futures::future::join_all;

pub use fixtures::{Fixture, basis, message, t0, tilted};

use crate::domain::{ConversationId, EmbeddingStatus, Importance, MessageId, TenantId};
use crate::error::RepositoryError;
use crate::ports::{
    CandidateQuery, EmbeddingUpdate, LexicalQuery, MessageRepository, RetentionPolicyStore,
};
use crate::retention::RetentionPolicy;
use crate::text::Analyzer;

/// Runs every check, each on a fresh store. `dim` is the store's embedding dimension.
pub async fn run_all<S, F, Fut>(make: F, dim: usize)
where
    S: MessageRepository + RetentionPolicyStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    round_trip(&make().await, dim).await;
    get_unknown_is_none(&make().await, dim).await;
    duplicate_insert_conflicts(&make().await, dim).await;
    set_embedding(&make().await, dim).await;
    search_orders_by_similarity(&make().await, dim).await;
    search_whole_history(&make().await, dim).await;
    tenant_isolation(&make().await, dim).await;
    filters(&make().await, dim).await;
    archive_semantics(&make().await, dim).await;
    purge_semantics(&make().await, dim).await;
    pending_embeddings(&make().await, dim).await;
    concurrent_writers(&make().await, dim).await;
    retention_policies(&make().await, dim).await;
    lexical_candidates(&make().await, dim).await;
    count_pending(&make().await, dim).await;
    erasure(&make().await, dim).await;
    conversation_timeline(&make().await, dim).await;
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).expect("valid tenant")
}

fn conv(s: &str) -> ConversationId {
    ConversationId::parse(s).expect("valid conversation")
}

fn query(t: &str, e: crate::domain::Embedding, limit: usize) -> CandidateQuery {
    CandidateQuery {
        tenant_id: tenant(t),
        conversation_id: None,
        importance_min: None,
        embedding: e,
        limit,
    }
}

async fn ids_of<S: MessageRepository>(store: &S, q: &CandidateQuery) -> Vec<MessageId> {
    store
        .search_candidates(q)
        .await
        .expect("search_candidates")
        .into_iter()
        .map(|c| c.message.id)
        .collect()
}

/// A message comes back exactly as stored: every field, the embedding, the metadata.
pub async fn round_trip<S: MessageRepository>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim)
        .content("I love Python 🐍 — ünïcödé")
        .embedded(basis(dim, 3))
        .build();
    store.insert(&m).await.expect("insert");
    let got = store
        .get(m.id)
        .await
        .expect("get")
        .expect("stored message is found");
    assert_eq!(got.id, m.id);
    assert_eq!(got.tenant_id, m.tenant_id);
    assert_eq!(got.conversation_id, m.conversation_id);
    assert_eq!(got.role, m.role);
    assert_eq!(got.content, m.content, "content round trip");
    assert_eq!(got.metadata, m.metadata, "metadata round trip");
    assert!((got.importance_score.value() - m.importance_score.value()).abs() < 1e-6);
    assert_eq!(got.embedding_status, EmbeddingStatus::Completed);
    assert_eq!(
        got.embedding.as_ref().map(|e| e.as_slice().to_vec()),
        m.embedding.as_ref().map(|e| e.as_slice().to_vec())
    );
    assert!(!got.archived);
    assert_eq!(
        got.created_at, m.created_at,
        "created_at round trip (microseconds)"
    );
    assert_eq!(
        got.updated_at, m.updated_at,
        "updated_at round trip (microseconds)"
    );
    let pending = Fixture::new("acme", "c1", dim).build();
    store.insert(&pending).await.expect("insert pending");
    let got = store.get(pending.id).await.expect("get").expect("found");
    assert_eq!(got.embedding_status, EmbeddingStatus::Pending);
    assert!(
        got.embedding.is_none(),
        "a pending message has no embedding"
    );
}

/// An unknown id is `Ok(None)`, not an error.
pub async fn get_unknown_is_none<S: MessageRepository>(store: &S, _dim: usize) {
    assert!(
        store
            .get(MessageId::new())
            .await
            .expect("get unknown")
            .is_none()
    );
}

/// Inserting an id twice is a `Conflict`, and the first row is kept.
pub async fn duplicate_insert_conflicts<S: MessageRepository>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim).content("first").build();
    store.insert(&m).await.expect("insert");
    let mut dup = m.clone();
    dup.content = crate::domain::Content::parse("second").expect("valid");
    match store.insert(&dup).await {
        Err(RepositoryError::Conflict(_)) => {}
        other => panic!("duplicate id must be Conflict, got {other:?}"),
    }
    let got = store.get(m.id).await.expect("get").expect("found");
    assert_eq!(got.content.as_str(), "first");
}

/// `set_embedding` completes or fails a message; unknown ids report `false`.
pub async fn set_embedding<S: MessageRepository>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim).build();
    store.insert(&m).await.expect("insert");
    let at = m.created_at + Duration::seconds(1);
    assert!(
        store
            .set_embedding(m.id, EmbeddingUpdate::Failed, at)
            .await
            .expect("fail it")
    );
    let got = store.get(m.id).await.expect("get").expect("found");
    assert_eq!(got.embedding_status, EmbeddingStatus::Failed);
    assert!(
        ids_of(store, &query("acme", basis(dim, 0), 10))
            .await
            .is_empty(),
        "failed messages are not candidates"
    );
    assert!(
        store
            .set_embedding(m.id, EmbeddingUpdate::Completed(basis(dim, 0)), at)
            .await
            .expect("complete it")
    );
    let got = store.get(m.id).await.expect("get").expect("found");
    assert_eq!(got.embedding_status, EmbeddingStatus::Completed);
    assert_eq!(got.updated_at, at);
    assert_eq!(
        got.embedding.expect("embedding stored").as_slice(),
        basis(dim, 0).as_slice()
    );
    assert_eq!(
        ids_of(store, &query("acme", basis(dim, 0), 10)).await,
        vec![m.id]
    );
    assert!(
        !store
            .set_embedding(MessageId::new(), EmbeddingUpdate::Failed, at)
            .await
            .expect("unknown id")
    );
}

/// Candidates come most similar first, with their cosine similarity, at most `limit`.
pub async fn search_orders_by_similarity<S: MessageRepository>(store: &S, dim: usize) {
    // Angles 0.0, 0.2, ... from the query direction: similarity cos(angle), strictly falling.
    let mut expected = Vec::new();
    for i in (0..8).rev() {
        let angle = 0.2 * i as f32;
        let m = Fixture::new("acme", "c1", dim)
            .embedded(tilted(dim, angle))
            .build();
        store.insert(&m).await.expect("insert");
        expected.push((m.id, angle));
    }
    expected.reverse();
    let got = store
        .search_candidates(&query("acme", basis(dim, 0), 5))
        .await
        .expect("search");
    assert_eq!(got.len(), 5, "limit is honoured");
    for (c, (id, angle)) in got.iter().zip(&expected) {
        assert_eq!(c.message.id, *id, "order by similarity");
        assert!(
            (c.similarity - f64::from(angle.cos())).abs() < 1e-4,
            "similarity is the cosine: {} vs {}",
            c.similarity,
            angle.cos()
        );
    }
    // Not normalised query: cosine, not dot product.
    let scaled = crate::domain::Embedding::new(
        basis(dim, 0).as_slice().iter().map(|v| v * 3.0).collect(),
        dim,
    )
    .expect("valid");
    let got = store
        .search_candidates(&query("acme", scaled, 1))
        .await
        .expect("search");
    assert!(
        (got[0].similarity - 1.0).abs() < 1e-4,
        "similarity is cosine, not dot product"
    );
}

/// The nearest neighbour is found however old it is: not a recent window.
pub async fn search_whole_history<S: MessageRepository>(store: &S, dim: usize) {
    let old = Fixture::new("acme", "c1", dim)
        .created(t0() - Duration::days(400))
        .embedded(basis(dim, 1))
        .build();
    store.insert(&old).await.expect("insert old");
    for i in 0..300 {
        let m = Fixture::new("acme", "c1", dim)
            .created(t0() + Duration::seconds(i))
            .embedded(tilted(dim, 1.2))
            .build();
        store.insert(&m).await.expect("insert recent");
    }
    let got = ids_of(store, &query("acme", basis(dim, 1), 3)).await;
    assert_eq!(
        got.first(),
        Some(&old.id),
        "the best match is 400 days older than 300 others"
    );
}

/// No method that takes a tenant touches another tenant's rows.
pub async fn tenant_isolation<S: MessageRepository>(store: &S, dim: usize) {
    let a = Fixture::new("tenant-a", "shared-conv", dim)
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(100))
        .build();
    let b = Fixture::new("tenant-b", "shared-conv", dim)
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(100))
        .build();
    store.insert(&a).await.expect("insert a");
    store.insert(&b).await.expect("insert b");
    assert_eq!(
        ids_of(store, &query("tenant-a", basis(dim, 0), 10)).await,
        vec![a.id]
    );
    let mut q = query("tenant-b", basis(dim, 0), 10);
    q.conversation_id = Some(conv("shared-conv"));
    assert_eq!(
        ids_of(store, &q).await,
        vec![b.id],
        "same conversation id in two tenants stays apart"
    );
    assert!(
        ids_of(store, &query("tenant-c", basis(dim, 0), 10))
            .await
            .is_empty()
    );
    let rule = RetentionPolicy::default().archive_rule(t0());
    assert_eq!(
        store
            .archive(&tenant("tenant-a"), &rule, t0(), false)
            .await
            .expect("archive"),
        1
    );
    assert!(
        !store.get(b.id).await.expect("get").expect("found").archived,
        "archiving A leaves B alone"
    );
    let later = t0() + Duration::days(1000);
    assert_eq!(
        store
            .purge_archived(&tenant("tenant-b"), later, false)
            .await
            .expect("purge b"),
        0
    );
    assert!(
        store.get(a.id).await.expect("get").is_some(),
        "purging B leaves A alone"
    );
    let mut tenants: Vec<String> = store
        .list_tenants()
        .await
        .expect("tenants")
        .into_iter()
        .map(TenantId::into_inner)
        .collect();
    tenants.sort();
    assert_eq!(tenants, vec!["tenant-a".to_owned(), "tenant-b".to_owned()]);
}

/// Conversation and importance filters; archived and unembedded messages are never candidates.
pub async fn filters<S: MessageRepository>(store: &S, dim: usize) {
    let c1 = Fixture::new("acme", "c1", dim)
        .importance(0.9)
        .embedded(basis(dim, 0))
        .build();
    let c2 = Fixture::new("acme", "c2", dim)
        .importance(0.2)
        .embedded(tilted(dim, 0.1))
        .build();
    let c2hi = Fixture::new("acme", "c2", dim)
        .importance(0.5)
        .embedded(tilted(dim, 0.3))
        .build();
    let archived = Fixture::new("acme", "c1", dim)
        .importance(0.9)
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(365))
        .build();
    let pending = Fixture::new("acme", "c1", dim).importance(0.9).build();
    for m in [&c1, &c2, &c2hi, &archived, &pending] {
        store.insert(m).await.expect("insert");
    }
    let rule = crate::retention::ArchiveRule {
        created_before: t0() - Duration::days(30),
        importance_below: Importance::saturating(0.0),
    };
    assert_eq!(
        store
            .archive(&tenant("acme"), &rule, t0(), false)
            .await
            .expect("archive"),
        1
    );
    assert_eq!(
        ids_of(store, &query("acme", basis(dim, 0), 10)).await,
        vec![c1.id, c2.id, c2hi.id]
    );
    let mut q = query("acme", basis(dim, 0), 10);
    q.conversation_id = Some(conv("c2"));
    assert_eq!(
        ids_of(store, &q).await,
        vec![c2.id, c2hi.id],
        "conversation filter"
    );
    q.importance_min = Some(Importance::saturating(0.5));
    assert_eq!(
        ids_of(store, &q).await,
        vec![c2hi.id],
        "importance_min is inclusive"
    );
    let mut q = query("acme", basis(dim, 0), 10);
    q.importance_min = Some(Importance::saturating(0.6));
    assert_eq!(ids_of(store, &q).await, vec![c1.id]);
    let mut q = query("acme", basis(dim, 0), 10);
    q.conversation_id = Some(conv("no-such-conversation"));
    assert!(ids_of(store, &q).await.is_empty());
}

/// Archive: age OR importance, counts, dry run changes nothing, archived stay readable.
pub async fn archive_semantics<S: MessageRepository>(store: &S, dim: usize) {
    let now = t0();
    let old = Fixture::new("acme", "c1", dim)
        .created(now - Duration::days(31))
        .importance(0.9)
        .embedded(basis(dim, 0))
        .build();
    let unimportant = Fixture::new("acme", "c1", dim)
        .created(now - Duration::days(1))
        .importance(0.1)
        .embedded(basis(dim, 0))
        .build();
    let keep = Fixture::new("acme", "c1", dim)
        .created(now - Duration::days(29))
        .importance(0.35)
        .embedded(basis(dim, 0))
        .build();
    for m in [&old, &unimportant, &keep] {
        store.insert(m).await.expect("insert");
    }
    let rule = RetentionPolicy::default().archive_rule(now);
    for m in [&old, &unimportant, &keep] {
        let stored = store.get(m.id).await.expect("get").expect("found");
        assert_eq!(rule.matches(&stored), m.id != keep.id, "the pure rule");
    }
    assert_eq!(
        store
            .archive(&tenant("acme"), &rule, now, true)
            .await
            .expect("dry run"),
        2
    );
    assert!(
        !store
            .get(old.id)
            .await
            .expect("get")
            .expect("found")
            .archived,
        "dry run changes nothing"
    );
    assert_eq!(
        ids_of(store, &query("acme", basis(dim, 0), 10)).await.len(),
        3
    );
    assert_eq!(
        store
            .archive(&tenant("acme"), &rule, now, false)
            .await
            .expect("archive"),
        2
    );
    assert!(
        store
            .get(old.id)
            .await
            .expect("get")
            .expect("found")
            .archived
    );
    assert!(
        store
            .get(unimportant.id)
            .await
            .expect("get")
            .expect("found")
            .archived
    );
    assert!(
        !store
            .get(keep.id)
            .await
            .expect("get")
            .expect("found")
            .archived
    );
    assert_eq!(
        ids_of(store, &query("acme", basis(dim, 0), 10)).await,
        vec![keep.id],
        "archived messages are not candidates"
    );
    assert_eq!(
        store
            .archive(&tenant("acme"), &rule, now, false)
            .await
            .expect("again"),
        0,
        "archiving is idempotent"
    );
    assert_eq!(
        store
            .archive(&tenant("acme"), &rule, now, true)
            .await
            .expect("dry again"),
        0
    );
}

/// Purge: deletes what was archived before the cut-off, nothing else; dry run counts only.
pub async fn purge_semantics<S: MessageRepository>(store: &S, dim: usize) {
    let now = t0();
    let a = Fixture::new("acme", "c1", dim)
        .created(now - Duration::days(200))
        .embedded(basis(dim, 0))
        .build();
    let b = Fixture::new("acme", "c1", dim)
        .created(now - Duration::days(100))
        .embedded(basis(dim, 0))
        .build();
    let live = Fixture::new("acme", "c1", dim)
        .created(now - Duration::days(1))
        .importance(0.9)
        .embedded(basis(dim, 0))
        .build();
    for m in [&a, &b, &live] {
        store.insert(m).await.expect("insert");
    }
    let rule = RetentionPolicy::default().archive_rule(now);
    let archived_at = now - Duration::days(95);
    assert_eq!(
        store
            .archive(&tenant("acme"), &rule, archived_at, false)
            .await
            .expect("archive"),
        2
    );
    // Archived 95 days ago: a 90-day cut-off deletes both, a 100-day one neither.
    assert_eq!(
        store
            .purge_archived(&tenant("acme"), now - Duration::days(100), false)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        store
            .purge_archived(&tenant("acme"), now - Duration::days(90), true)
            .await
            .expect("dry"),
        2
    );
    assert!(
        store.get(a.id).await.expect("get").is_some(),
        "dry run deletes nothing"
    );
    assert_eq!(
        store
            .purge_archived(&tenant("acme"), now - Duration::days(90), false)
            .await
            .expect("purge"),
        2
    );
    assert!(
        store.get(a.id).await.expect("get").is_none(),
        "purged messages are gone"
    );
    assert!(store.get(b.id).await.expect("get").is_none());
    assert!(
        store.get(live.id).await.expect("get").is_some(),
        "live messages are never purged"
    );
    assert_eq!(
        store
            .purge_archived(&tenant("acme"), now, false)
            .await
            .expect("again"),
        0
    );
}

/// Pending and failed messages are listed oldest first for the embedding worker.
pub async fn pending_embeddings<S: MessageRepository>(store: &S, dim: usize) {
    let p1 = Fixture::new("t1", "c1", dim)
        .created(t0() - Duration::seconds(30))
        .build();
    let p2 = Fixture::new("t2", "c1", dim)
        .created(t0() - Duration::seconds(20))
        .build();
    let done = Fixture::new("t1", "c1", dim)
        .created(t0() - Duration::seconds(40))
        .embedded(basis(dim, 0))
        .build();
    let f = Fixture::new("t1", "c1", dim)
        .created(t0() - Duration::seconds(10))
        .build();
    for m in [&p1, &p2, &done, &f] {
        store.insert(m).await.expect("insert");
    }
    store
        .set_embedding(f.id, EmbeddingUpdate::Failed, t0())
        .await
        .expect("fail");
    let got: Vec<MessageId> = store
        .pending_embeddings(10)
        .await
        .expect("pending")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        got,
        vec![p1.id, p2.id, f.id],
        "pending and failed, oldest first, every tenant"
    );
    let got = store.pending_embeddings(2).await.expect("pending");
    assert_eq!(got.len(), 2, "limit is honoured");
}

/// Eight concurrent writers lose nothing.
pub async fn concurrent_writers<S: MessageRepository>(store: &S, dim: usize) {
    let batches: Vec<Vec<crate::domain::Message>> = (0..8)
        .map(|w| {
            (0..25)
                .map(|i| {
                    Fixture::new("acme", &format!("w{w}"), dim)
                        .content(&format!("writer {w} message {i}"))
                        .embedded(tilted(dim, 0.01 * i as f32))
                        .build()
                })
                .collect()
        })
        .collect();
    join_all(batches.iter().map(|batch| async move {
        for m in batch {
            store.insert(m).await.expect("concurrent insert");
        }
    }))
    .await;
    for m in batches.iter().flatten() {
        let got = store
            .get(m.id)
            .await
            .expect("get")
            .expect("every acknowledged write is readable");
        assert_eq!(got.content, m.content);
    }
    let mut q = query("acme", basis(dim, 0), 1000);
    q.conversation_id = Some(conv("w3"));
    assert_eq!(ids_of(store, &q).await.len(), 25);
}

/// Policies: none by default, put creates, put again replaces, tenants are separate.
pub async fn retention_policies<S: RetentionPolicyStore>(store: &S, _dim: usize) {
    let acme = tenant("acme");
    assert_eq!(store.get_policy(&acme).await.expect("get"), None);
    let p = RetentionPolicy::new(10, 0.2, 30).expect("valid");
    store.put_policy(&acme, &p).await.expect("put");
    assert_eq!(store.get_policy(&acme).await.expect("get"), Some(p));
    let q = RetentionPolicy::new(60, 0.5, 365).expect("valid");
    store.put_policy(&acme, &q).await.expect("replace");
    let got = store
        .get_policy(&acme)
        .await
        .expect("get")
        .expect("present");
    assert_eq!((got.max_age_days, got.delete_after_days), (60, 365));
    assert!((got.importance_threshold.value() - 0.5).abs() < 1e-9);
    assert_eq!(store.get_policy(&tenant("other")).await.expect("get"), None);
}

fn lexical(t: &str, terms: &[&str]) -> LexicalQuery {
    LexicalQuery {
        tenant_id: tenant(t),
        conversation_id: None,
        importance_min: None,
        terms: terms.iter().map(|s| (*s).to_owned()).collect(),
        limit: 100,
    }
}

async fn lexical_ids<S: MessageRepository>(store: &S, q: &LexicalQuery) -> Vec<MessageId> {
    let mut ids: Vec<MessageId> = store
        .lexical_candidates(q)
        .await
        .expect("lexical_candidates")
        .documents
        .into_iter()
        .map(|d| d.message.id)
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<MessageId>) -> Vec<MessageId> {
    ids.sort();
    ids
}

/// Lexical matches: any query term, scoped, archived excluded, pending included, with the
/// analyzed text and the scope's statistics.
pub async fn lexical_candidates<S: MessageRepository>(store: &S, dim: usize) {
    let py1 = Fixture::new("acme", "c1", dim)
        .content("I love Python programming")
        .embedded(basis(dim, 0))
        .importance(0.9)
        .build();
    let py2 = Fixture::new("acme", "c2", dim)
        .content("Pythons are large snakes; python, python!")
        .importance(0.2)
        .build();
    let other = Fixture::new("acme", "c1", dim)
        .content("The weather was sunny in Lisbon")
        .embedded(basis(dim, 1))
        .build();
    let archived = Fixture::new("acme", "c1", dim)
        .content("Old python notes")
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(365))
        .build();
    let foreign = Fixture::new("globex", "c1", dim)
        .content("Python at Globex")
        .embedded(basis(dim, 0))
        .build();
    for m in [&py1, &py2, &other, &archived, &foreign] {
        store.insert(m).await.expect("insert");
    }
    let rule = crate::retention::ArchiveRule {
        created_before: t0() - Duration::days(30),
        importance_below: Importance::saturating(0.0),
    };
    assert_eq!(
        store
            .archive(&tenant("acme"), &rule, t0(), false)
            .await
            .expect("archive"),
        1
    );

    let analyzer = Analyzer::english();
    let got = store
        .lexical_candidates(&lexical("acme", &["python"]))
        .await
        .expect("lexical");
    let mut docs = got.documents.clone();
    docs.sort_by_key(|d| d.message.id);
    assert_eq!(
        docs.iter().map(|d| d.message.id).collect::<Vec<_>>(),
        sorted(vec![py1.id, py2.id]),
        "tenant scope, archived excluded, pending included"
    );
    for d in &docs {
        assert_eq!(
            d.terms,
            analyzer.index_text(d.message.content.as_str()),
            "the analyzed text is the analyzer's"
        );
        assert_eq!(
            d.message.embedding.is_some(),
            d.message.id == py1.id,
            "embeddings come along when present"
        );
    }
    assert_eq!(got.scope_size, 3, "the scope: acme's non-archived messages");
    let lengths: Vec<usize> = [&py1, &py2, &other]
        .iter()
        .map(|m| analyzer.terms(m.content.as_str()).len())
        .collect();
    let avg = lengths.iter().sum::<usize>() as f64 / 3.0;
    assert!(
        (got.average_length - avg).abs() < 1e-6,
        "average length {} vs {avg}",
        got.average_length
    );

    assert_eq!(
        lexical_ids(store, &lexical("acme", &["sunni", "snake"])).await,
        sorted(vec![py2.id, other.id]),
        "any term matches"
    );
    assert!(
        lexical_ids(store, &lexical("acme", &["zebra"]))
            .await
            .is_empty()
    );
    assert!(
        lexical_ids(store, &lexical("acme", &[])).await.is_empty(),
        "no terms, no documents"
    );
    let mut q = lexical("acme", &["python"]);
    q.conversation_id = Some(conv("c2"));
    let scoped = store.lexical_candidates(&q).await.expect("lexical");
    assert_eq!(
        scoped
            .documents
            .iter()
            .map(|d| d.message.id)
            .collect::<Vec<_>>(),
        vec![py2.id],
        "conversation scope"
    );
    assert_eq!(scoped.scope_size, 1);
    let mut q = lexical("acme", &["python"]);
    q.importance_min = Some(Importance::saturating(0.5));
    assert_eq!(lexical_ids(store, &q).await, vec![py1.id], "importance_min");
    let mut q = lexical("acme", &["python", "weather"]);
    q.limit = 2;
    assert_eq!(
        store
            .lexical_candidates(&q)
            .await
            .expect("lexical")
            .documents
            .len(),
        2,
        "limit"
    );
    assert_eq!(
        lexical_ids(store, &lexical("globex", &["python"])).await,
        vec![foreign.id]
    );
    let empty = store
        .lexical_candidates(&lexical("nobody", &["python"]))
        .await
        .expect("lexical");
    assert_eq!((empty.scope_size, empty.documents.len()), (0, 0));
}

/// Pending counts by scope.
pub async fn count_pending<S: MessageRepository>(store: &S, dim: usize) {
    let a1 = Fixture::new("a", "c1", dim).build();
    let a2 = Fixture::new("a", "c2", dim).build();
    let done = Fixture::new("a", "c1", dim).embedded(basis(dim, 0)).build();
    let b = Fixture::new("b", "c1", dim).build();
    for m in [&a1, &a2, &done, &b] {
        store.insert(m).await.expect("insert");
    }
    store
        .set_embedding(a2.id, EmbeddingUpdate::Failed, t0())
        .await
        .expect("fail");
    assert_eq!(
        store
            .count_pending(Some(tenant("a")), None)
            .await
            .expect("count"),
        2,
        "pending and failed"
    );
    assert_eq!(
        store
            .count_pending(Some(tenant("a")), Some(conv("c1")))
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        store
            .count_pending(Some(tenant("b")), None)
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        store.count_pending(None, None).await.expect("count"),
        3,
        "every tenant"
    );
}

/// Erasure deletes exactly one tenant's conversation, or one tenant, archived copies and
/// policy included, and nothing of anyone else.
pub async fn erasure<S: MessageRepository + RetentionPolicyStore>(store: &S, dim: usize) {
    let a1 = Fixture::new("a", "shared", dim)
        .embedded(basis(dim, 0))
        .build();
    let a1_old = Fixture::new("a", "shared", dim)
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(100))
        .build();
    let a2 = Fixture::new("a", "other", dim)
        .embedded(basis(dim, 0))
        .build();
    let b1 = Fixture::new("b", "shared", dim)
        .embedded(basis(dim, 0))
        .build();
    for m in [&a1, &a1_old, &a2, &b1] {
        store.insert(m).await.expect("insert");
    }
    let rule = RetentionPolicy::default().archive_rule(t0());
    assert_eq!(
        store
            .archive(&tenant("a"), &rule, t0(), false)
            .await
            .expect("archive"),
        1
    );
    store
        .put_policy(&tenant("a"), &RetentionPolicy::default())
        .await
        .expect("policy");
    store
        .put_policy(&tenant("b"), &RetentionPolicy::default())
        .await
        .expect("policy");

    assert_eq!(
        store
            .delete_conversation(&tenant("a"), &conv("shared"))
            .await
            .expect("delete"),
        2,
        "live and archived"
    );
    assert!(store.get(a1.id).await.expect("get").is_none());
    assert!(
        store.get(a1_old.id).await.expect("get").is_none(),
        "archived copies too"
    );
    assert!(
        store.get(a2.id).await.expect("get").is_some(),
        "other conversations stay"
    );
    assert!(
        store.get(b1.id).await.expect("get").is_some(),
        "the same conversation id of another tenant stays"
    );
    assert_eq!(
        store
            .delete_conversation(&tenant("a"), &conv("shared"))
            .await
            .expect("again"),
        0,
        "idempotent"
    );
    assert_eq!(
        store
            .purge_archived(&tenant("a"), t0() + Duration::days(1000), false)
            .await
            .expect("purge"),
        0,
        "no archived copy left behind"
    );

    assert_eq!(
        store
            .delete_tenant(&tenant("a"))
            .await
            .expect("delete tenant"),
        1
    );
    assert!(store.get(a2.id).await.expect("get").is_none());
    assert_eq!(
        store.get_policy(&tenant("a")).await.expect("policy"),
        None,
        "the tenant's policy goes too"
    );
    assert!(
        store
            .get_policy(&tenant("b"))
            .await
            .expect("policy")
            .is_some()
    );
    assert!(
        store.get(b1.id).await.expect("get").is_some(),
        "other tenants untouched"
    );
    assert_eq!(
        ids_of(store, &query("b", basis(dim, 0), 10)).await,
        vec![b1.id]
    );
    assert_eq!(
        store.delete_tenant(&tenant("a")).await.expect("again"),
        0,
        "idempotent"
    );
    let tenants: Vec<String> = store
        .list_tenants()
        .await
        .expect("tenants")
        .into_iter()
        .map(TenantId::into_inner)
        .collect();
    assert_eq!(tenants, vec!["b".to_owned()]);
}

/// A conversation's time line: its non-archived messages, embedded or not, by `created_at`
/// then id; nothing of another conversation or tenant; `None` above the limit.
pub async fn conversation_timeline<S: MessageRepository>(store: &S, dim: usize) {
    let at = |h: i64| t0() - Duration::hours(h);
    let first = Fixture::new("a", "c1", dim)
        .embedded(basis(dim, 0))
        .created(at(3))
        .build();
    let pending = Fixture::new("a", "c1", dim).created(at(2)).build();
    let (tie_x, tie_y) = (
        Fixture::new("a", "c1", dim)
            .embedded(basis(dim, 1))
            .created(at(1))
            .build(),
        Fixture::new("a", "c1", dim)
            .embedded(basis(dim, 1))
            .created(at(1))
            .build(),
    );
    let archived = Fixture::new("a", "c1", dim)
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(100))
        .build();
    let other_conversation = Fixture::new("a", "c2", dim)
        .embedded(basis(dim, 0))
        .created(at(2))
        .build();
    let other_tenant = Fixture::new("b", "c1", dim)
        .embedded(basis(dim, 0))
        .created(at(2))
        .build();
    // Inserted out of time order.
    for m in [
        &tie_y,
        &pending,
        &archived,
        &other_tenant,
        &first,
        &other_conversation,
        &tie_x,
    ] {
        store.insert(m).await.expect("insert");
    }
    let rule = crate::retention::ArchiveRule {
        created_before: t0() - Duration::days(30),
        importance_below: Importance::saturating(0.0),
    };
    assert_eq!(
        store
            .archive(&tenant("a"), &rule, t0(), false)
            .await
            .expect("archive"),
        1
    );
    let ties = if tie_x.id < tie_y.id {
        [tie_x.id, tie_y.id]
    } else {
        [tie_y.id, tie_x.id]
    };
    let line = store
        .conversation_timeline(&tenant("a"), &conv("c1"), 4)
        .await
        .expect("timeline");
    assert_eq!(
        line,
        Some(vec![first.id, pending.id, ties[0], ties[1]]),
        "time order, ties by id, archived and other scopes left out"
    );
    assert_eq!(
        store
            .conversation_timeline(&tenant("a"), &conv("c1"), 3)
            .await
            .expect("timeline"),
        None,
        "more messages than the limit"
    );
    assert_eq!(
        store
            .conversation_timeline(&tenant("b"), &conv("c1"), 10)
            .await
            .expect("timeline"),
        Some(vec![other_tenant.id])
    );
    assert_eq!(
        store
            .conversation_timeline(&tenant("a"), &conv("nope"), 10)
            .await
            .expect("timeline"),
        Some(vec![])
    );
}
