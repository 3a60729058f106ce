//! Contract checks of [`Editing`]: updates are conditional, indexed and recorded; deletes
//! take the message, its archive copy and its history, and nothing else.

use chrono::Duration;
use uuid::Uuid;

use super::{Fixture, archive_old, basis, conv, ids_of, insert, query, t0, tenant};
use crate::domain::{
    Actor, Content, EmbeddingStatus, HistoryEntry, IdempotencyRecord, Importance, Message, Metadata,
};
use crate::error::RepositoryError;
use crate::ports::{
    Editing, Erasure, LexicalQuery, LexicalSearch, MessageRecord, MessageStore, RetentionStore,
    Revision, VectorSearch,
};
use crate::text::{Analyzer, Bm25};

/// The revision that changes `m`'s content and metadata, re-embedded with `embedding`.
pub fn revision(
    m: &Message,
    content: &str,
    embedding: Option<crate::domain::Embedding>,
) -> Revision {
    let mut next = m.clone();
    next.content = Content::parse(content).expect("valid content");
    next.metadata = Metadata::parse(serde_json::json!({"edited": true})).expect("valid");
    next.importance_score = Importance::saturating(0.9);
    next.importance_override = Some(Importance::saturating(0.95));
    next.embedding_status = if embedding.is_some() {
        EmbeddingStatus::Completed
    } else {
        EmbeddingStatus::Pending
    };
    next.embedding = embedding;
    next.updated_at = m.updated_at + Duration::seconds(1);
    Revision {
        entry: HistoryEntry {
            id: Uuid::now_v7(),
            message_id: m.id,
            tenant_id: m.tenant_id.clone(),
            at: next.updated_at,
            actor: Actor::parse("key:test").expect("valid"),
            old_content: m.content.clone(),
            new_content: next.content.clone(),
            old_metadata: m.metadata.clone(),
            new_metadata: next.metadata.clone(),
            old_importance: m.importance_score,
            new_importance: next.importance_score,
        },
        record: MessageRecord::new(next),
        expected_updated_at: m.updated_at,
    }
}

async fn lexical_ids<S: LexicalSearch>(store: &S, word: &str) -> Vec<crate::domain::MessageId> {
    let q = LexicalQuery {
        tenant_id: tenant("acme"),
        conversation_id: None,
        importance_min: None,
        terms: Analyzer::english().query_terms(word),
        bm25: Bm25::default(),
        limit: 10,
        filters: Default::default(),
    };
    let matches = store.lexical_candidates(&q).await.expect("lexical");
    matches
        .documents
        .into_iter()
        .map(|d| d.message.id)
        .collect()
}

/// An update replaces the message's fields, moves it in the lexical and vector indexes, and
/// appends its history entry; a stale `expected_updated_at` writes nothing.
pub async fn update_applies_and_is_recorded<
    S: MessageStore + VectorSearch + LexicalSearch + Editing,
>(
    store: &S,
    dim: usize,
) {
    let m = Fixture::new("acme", "c1", dim)
        .content("my cat is called Tom")
        .embedded(basis(dim, 0))
        .build();
    insert(store, &m).await.expect("insert");
    let rev = revision(&m, "my parrot is called Polly", Some(basis(dim, 1)));
    assert!(store.update(&rev, None).await.expect("update"), "applies");
    let got = store.get(m.id).await.expect("get").expect("found");
    let want = &rev.record.message;
    assert_eq!(got.content, want.content);
    assert_eq!(got.metadata, want.metadata);
    assert!((got.importance_score.value() - 0.9).abs() < 1e-9);
    assert_eq!(got.importance_override, want.importance_override);
    assert_eq!(got.updated_at, want.updated_at);
    assert_eq!(got.created_at, m.created_at, "created_at never changes");
    assert_eq!(
        got.embedding.as_ref().map(|e| e.as_slice().to_vec()),
        Some(basis(dim, 1).as_slice().to_vec())
    );
    assert_eq!(
        lexical_ids(store, "parrot").await,
        [m.id],
        "the new text is indexed"
    );
    assert!(
        lexical_ids(store, "cat").await.is_empty(),
        "the old text is not"
    );
    assert_eq!(
        ids_of(store, &query("acme", basis(dim, 1), 1)).await,
        [m.id],
        "the new vector is searched"
    );
    let history = store.history(&m.tenant_id, m.id).await.expect("history");
    assert_eq!(
        history,
        std::slice::from_ref(&rev.entry),
        "the entry is kept as written"
    );

    // The same revision again is stale now: nothing changes, nothing is recorded.
    let stale = revision(&m, "my dog is called Rex", None);
    assert!(
        !store.update(&stale, None).await.expect("stale"),
        "stale revision refused"
    );
    assert_eq!(
        store.get(m.id).await.expect("get").expect("found").content,
        want.content
    );
    assert_eq!(
        store
            .history(&m.tenant_id, m.id)
            .await
            .expect("history")
            .len(),
        1
    );

    // A second, current revision: pending embedding, history grows in order.
    let second = revision(&got, "my dog is called Rex", None);
    assert!(store.update(&second, None).await.expect("update"));
    let got = store.get(m.id).await.expect("get").expect("found");
    assert_eq!(got.embedding_status, EmbeddingStatus::Pending);
    assert!(got.embedding.is_none(), "no stale vector is kept");
    assert!(
        ids_of(store, &query("acme", basis(dim, 1), 5))
            .await
            .is_empty(),
        "a pending message is not a vector candidate"
    );
    let history = store.history(&m.tenant_id, m.id).await.expect("history");
    assert_eq!(
        history.iter().map(|h| h.id).collect::<Vec<_>>(),
        [rev.entry.id, second.entry.id]
    );
    let unknown = revision(&Fixture::new("acme", "c1", dim).build(), "x", None);
    assert!(
        !store.update(&unknown, None).await.expect("unknown"),
        "an unknown id is Ok(false)"
    );
    assert!(
        store
            .history(&unknown.record.message.tenant_id, unknown.record.message.id)
            .await
            .expect("history")
            .is_empty()
    );
}

/// An update carries its idempotency record in the same transaction: a taken key is
/// [`RepositoryError::DuplicateKey`] and nothing is written.
pub async fn update_with_key<S: MessageStore + Editing>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim).content("first").build();
    insert(store, &m).await.expect("insert");
    let key = |k: &str| IdempotencyRecord {
        tenant_id: tenant("acme"),
        key: k.to_owned(),
        fingerprint: "fp".into(),
        created_at: t0(),
        outcome: "[]".into(),
    };
    let rev = revision(&m, "second", None);
    assert!(store.update(&rev, Some(key("k1"))).await.expect("update"));
    assert_eq!(
        store
            .find_idempotency(&tenant("acme"), "k1")
            .await
            .expect("find"),
        Some(key("k1"))
    );
    let current = store.get(m.id).await.expect("get").expect("found");
    let again = revision(&current, "third", None);
    assert!(matches!(
        store.update(&again, Some(key("k1"))).await,
        Err(RepositoryError::DuplicateKey(_))
    ));
    assert_eq!(
        store
            .get(m.id)
            .await
            .expect("get")
            .expect("found")
            .content
            .as_str(),
        "second",
        "nothing written under a taken key"
    );
    assert_eq!(
        store
            .history(&m.tenant_id, m.id)
            .await
            .expect("history")
            .len(),
        1
    );
}

/// Archived messages can be updated and deleted; a delete takes the message, its archive
/// copy and its history, and `Ok(false)` the second time; other messages stay.
pub async fn delete_one<S: MessageStore + RetentionStore + Editing>(store: &S, dim: usize) {
    let old = Fixture::new("acme", "c1", dim)
        .content("an old memory")
        .created(t0() - Duration::days(40))
        .build();
    let keep = Fixture::new("acme", "c1", dim).build();
    let other = Fixture::new("globex", "c1", dim).build();
    for m in [&old, &keep, &other] {
        insert(store, m).await.expect("insert");
    }
    assert_eq!(archive_old(store, "acme").await, 1);
    let archived = store.get(old.id).await.expect("get").expect("found");
    let rev = revision(&archived, "an old memory, corrected", None);
    assert!(store.update(&rev, None).await.expect("update archived"));
    let got = store.get(old.id).await.expect("get").expect("found");
    assert!(got.archived, "stays archived");
    assert_eq!(got.content.as_str(), "an old memory, corrected");
    assert!(
        !store
            .delete(&crate::testkit::tenant("globex"), old.id)
            .await
            .expect("delete elsewhere"),
        "another tenant's id deletes nothing"
    );
    assert!(
        store
            .history(&crate::testkit::tenant("globex"), old.id)
            .await
            .expect("history elsewhere")
            .is_empty(),
        "another tenant reads no history"
    );
    assert!(store.delete(&old.tenant_id, old.id).await.expect("delete"));
    assert!(store.get(old.id).await.expect("get").is_none());
    assert!(
        store
            .history(&old.tenant_id, old.id)
            .await
            .expect("history")
            .is_empty(),
        "history goes too"
    );
    assert!(
        !store.delete(&old.tenant_id, old.id).await.expect("again"),
        "second delete finds nothing"
    );
    assert_eq!(
        store
            .purge_archived(&tenant("acme"), t0() + Duration::days(10_000), true)
            .await
            .expect("purge"),
        0,
        "its archive copy went with it"
    );
    assert!(store.get(keep.id).await.expect("get").is_some());
    assert!(store.get(other.id).await.expect("get").is_some());
}

/// Erasing a conversation or a tenant removes the history of its messages (and a tenant's
/// idempotency records).
pub async fn erasure_takes_history<S: MessageStore + Editing + Erasure>(store: &S, dim: usize) {
    let a = Fixture::new("acme", "c1", dim).build();
    let b = Fixture::new("acme", "c2", dim).build();
    for m in [&a, &b] {
        insert(store, m).await.expect("insert");
        assert!(
            store
                .update(&revision(m, "changed", None), None)
                .await
                .expect("update")
        );
    }
    store
        .insert_batch(
            &[],
            Some(IdempotencyRecord {
                tenant_id: tenant("acme"),
                key: "k".into(),
                fingerprint: "fp".into(),
                created_at: t0(),
                outcome: "[]".into(),
            }),
        )
        .await
        .expect("key");
    store
        .delete_conversation(&tenant("acme"), &conv("c1"))
        .await
        .expect("erase");
    assert!(
        store
            .history(&a.tenant_id, a.id)
            .await
            .expect("history")
            .is_empty()
    );
    assert_eq!(
        store
            .history(&b.tenant_id, b.id)
            .await
            .expect("history")
            .len(),
        1,
        "other conversations keep theirs"
    );
    store.delete_tenant(&tenant("acme")).await.expect("erase");
    assert!(
        store
            .history(&b.tenant_id, b.id)
            .await
            .expect("history")
            .is_empty()
    );
    assert!(
        store
            .find_idempotency(&tenant("acme"), "k")
            .await
            .expect("find")
            .is_none()
    );
}
