//! Contract checks of [`MessageStore`]: messages come back as stored, embeddings are
//! recorded, the backlog is listed and counted, writers do not lose each other's work.

use chrono::Duration;
use futures::future::join_all;

use super::{Fixture, basis, conv, ids_of, insert, query, t0, tenant, tilted};
use crate::domain::{EmbeddingStatus, MessageId};
use crate::error::RepositoryError;
use crate::ports::{EmbeddingUpdate, MessageRecord, MessageStore, VectorSearch};

/// A message comes back exactly as stored: every field, the embedding, the metadata.
pub async fn round_trip<S: MessageStore>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim)
        .content("I love Python 🐍 — ünïcödé")
        .embedded(basis(dim, 3))
        .overridden(0.8)
        .build();
    insert(store, &m).await.expect("insert");
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
    assert_eq!(
        got.importance_override, m.importance_override,
        "the override is kept"
    );
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
    insert(store, &pending).await.expect("insert pending");
    let got = store.get(pending.id).await.expect("get").expect("found");
    assert_eq!(got.importance_override, None, "no override, none read back");
    assert_eq!(got.embedding_status, EmbeddingStatus::Pending);
    assert!(
        got.embedding.is_none(),
        "a pending message has no embedding"
    );
}

/// An unknown id is `Ok(None)`, not an error.
pub async fn get_unknown_is_none<S: MessageStore>(store: &S, _dim: usize) {
    assert!(
        store
            .get(MessageId::new())
            .await
            .expect("get unknown")
            .is_none()
    );
}

/// Inserting an id twice is a `Conflict`, and the first row is kept.
pub async fn duplicate_insert_conflicts<S: MessageStore>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim).content("first").build();
    insert(store, &m).await.expect("insert");
    let mut dup = m.clone();
    dup.content = crate::domain::Content::parse("second").expect("valid");
    match insert(store, &dup).await {
        Err(RepositoryError::Conflict(_)) => {}
        other => panic!("duplicate id must be Conflict, got {other:?}"),
    }
    let got = store.get(m.id).await.expect("get").expect("found");
    assert_eq!(got.content.as_str(), "first");
}

/// `set_embedding` completes or fails a message as it was read; unknown ids, and a message
/// changed since it was read, report `false` and change nothing.
pub async fn set_embedding<S: MessageStore + VectorSearch>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim).build();
    insert(store, &m).await.expect("insert");
    let at = m.created_at + Duration::seconds(1);
    assert!(
        store
            .set_embedding(m.id, EmbeddingUpdate::Failed, m.updated_at, at)
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
        !store
            .set_embedding(
                m.id,
                EmbeddingUpdate::Completed(basis(dim, 0)),
                m.updated_at,
                at
            )
            .await
            .expect("stale"),
        "the message changed since that read: nothing is written"
    );
    assert_eq!(
        store
            .get(m.id)
            .await
            .expect("get")
            .expect("found")
            .embedding_status,
        EmbeddingStatus::Failed
    );
    assert!(
        store
            .set_embedding(m.id, EmbeddingUpdate::Completed(basis(dim, 0)), at, at)
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
            .set_embedding(MessageId::new(), EmbeddingUpdate::Failed, at, at)
            .await
            .expect("unknown id")
    );
}

/// Pending and failed messages are listed oldest first for the embedding worker.
pub async fn pending_embeddings<S: MessageStore>(store: &S, dim: usize) {
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
        insert(store, m).await.expect("insert");
    }
    store
        .set_embedding(f.id, EmbeddingUpdate::Failed, f.updated_at, t0())
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

/// Pending counts by scope.
pub async fn count_pending<S: MessageStore>(store: &S, dim: usize) {
    let a1 = Fixture::new("a", "c1", dim).build();
    let a2 = Fixture::new("a", "c2", dim).build();
    let done = Fixture::new("a", "c1", dim).embedded(basis(dim, 0)).build();
    let b = Fixture::new("b", "c1", dim).build();
    for m in [&a1, &a2, &done, &b] {
        insert(store, m).await.expect("insert");
    }
    store
        .set_embedding(a2.id, EmbeddingUpdate::Failed, a2.updated_at, t0())
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

/// Eight concurrent writers lose nothing.
pub async fn concurrent_writers<S: MessageStore + VectorSearch>(store: &S, dim: usize) {
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
            insert(store, m).await.expect("concurrent insert");
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

/// An embedding of another dimension than the store's is refused, naming both numbers.
pub async fn wrong_dimension_is_refused<S: MessageStore>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim + 1)
        .embedded(basis(dim + 1, 0))
        .build();
    match store.insert(&MessageRecord::new(m.clone())).await {
        Err(RepositoryError::DimensionMismatch { expected, got }) => {
            assert_eq!((expected, got), (dim, dim + 1));
        }
        other => panic!(
            "a {}-dimension embedding must be refused, got {other:?}",
            dim + 1
        ),
    }
    assert!(
        store.get(m.id).await.expect("get").is_none(),
        "nothing was stored"
    );
}

/// A batch is stored whole or not at all, with its idempotency record: a duplicate id or a
/// taken key writes nothing. Keys are per tenant and purged by age.
pub async fn insert_batch_is_atomic<S: MessageStore>(store: &S, dim: usize) {
    use crate::domain::IdempotencyRecord;
    let key = |t: &str, k: &str, at| IdempotencyRecord {
        tenant_id: tenant(t),
        key: k.to_owned(),
        fingerprint: format!("fp-{k}"),
        created_at: at,
        outcome: "[{\"id\":\"x\"}]".into(),
    };
    let batch: Vec<MessageRecord> = (0..5)
        .map(|i| {
            MessageRecord::new(
                Fixture::new("acme", &format!("c{}", i % 2), dim)
                    .embedded(basis(dim, i))
                    .overridden(i as f64 / 10.0)
                    .build(),
            )
        })
        .collect();
    store
        .insert_batch(&batch, Some(key("acme", "k1", t0())))
        .await
        .expect("batch");
    for r in &batch {
        let got = store.get(r.message.id).await.expect("get");
        assert_eq!(
            got.map(|m| m.importance_override),
            Some(r.message.importance_override),
            "every record stored, with its override"
        );
    }
    assert_eq!(
        store
            .find_idempotency(&tenant("acme"), "k1")
            .await
            .expect("find"),
        Some(key("acme", "k1", t0())),
        "the key is stored with the batch"
    );
    assert!(
        store
            .find_idempotency(&tenant("globex"), "k1")
            .await
            .expect("find")
            .is_none(),
        "keys are per tenant"
    );

    let fresh = MessageRecord::new(Fixture::new("acme", "c1", dim).build());
    let with_duplicate = [fresh.clone(), batch[0].clone()];
    assert!(matches!(
        store.insert_batch(&with_duplicate, None).await,
        Err(RepositoryError::Conflict(_))
    ));
    assert!(
        store.get(fresh.message.id).await.expect("get").is_none(),
        "all or nothing"
    );
    assert!(matches!(
        store
            .insert_batch(std::slice::from_ref(&fresh), Some(key("acme", "k1", t0())))
            .await,
        Err(RepositoryError::DuplicateKey(_))
    ));
    assert!(
        store.get(fresh.message.id).await.expect("get").is_none(),
        "nothing under a taken key"
    );
    store
        .insert_batch(
            std::slice::from_ref(&fresh),
            Some(key("globex", "k1", t0() + Duration::hours(1))),
        )
        .await
        .expect("the same key in another tenant");
    store
        .insert_batch(&[], None)
        .await
        .expect("an empty batch is a no-op");

    assert_eq!(
        store
            .purge_idempotency(t0() + Duration::minutes(30))
            .await
            .expect("purge"),
        1
    );
    assert!(
        store
            .find_idempotency(&tenant("acme"), "k1")
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        store
            .find_idempotency(&tenant("globex"), "k1")
            .await
            .expect("find")
            .is_some()
    );
}

/// A batch in parts is one transaction: nothing is visible before the last part has arrived
/// and the store committed; a duplicate id or a wrong dimension in any part, or a taken key,
/// writes nothing of any part.
pub async fn insert_parts_is_one_transaction<S: MessageStore>(store: &S, dim: usize) {
    use futures::{SinkExt as _, StreamExt as _, stream};

    use crate::domain::IdempotencyRecord;
    use crate::ports::RecordParts;
    let key = |k: &str| IdempotencyRecord {
        tenant_id: tenant("acme"),
        key: k.to_owned(),
        fingerprint: format!("fp-{k}"),
        created_at: t0(),
        outcome: "[]".into(),
    };
    let records = |n: usize, d: usize| -> Vec<MessageRecord> {
        (0..n)
            .map(|i| {
                MessageRecord::new(
                    Fixture::new("acme", &format!("p{}", i % 3), d)
                        .embedded(basis(d, i))
                        .build(),
                )
            })
            .collect()
    };
    let parts = |p: Vec<Vec<MessageRecord>>| -> RecordParts { stream::iter(p).boxed() };
    let stored = async |rs: &[MessageRecord]| {
        let mut n = 0;
        for r in rs {
            if store.get(r.message.id).await.expect("get").is_some() {
                n += 1;
            }
        }
        n
    };

    // Parts arriving one at a time: the first is not visible while the second is awaited.
    let (first, second) = (records(3, dim), records(2, dim));
    let (mut tx, rx) = futures::channel::mpsc::channel(0);
    let (written, ()) = futures::join!(store.insert_parts(rx.boxed(), Some(key("p1"))), async {
        tx.send(first.clone())
            .await
            .expect("the store reads part 1");
        tx.send(Vec::new()).await.expect("an empty part is fine");
        assert_eq!(
            stored(&first).await,
            0,
            "nothing is visible before the commit"
        );
        tx.send(second.clone())
            .await
            .expect("the store reads part 2");
        drop(tx);
    });
    written.expect("parts stored");
    assert_eq!(
        stored(&first).await + stored(&second).await,
        5,
        "every part"
    );
    assert!(
        store
            .find_idempotency(&tenant("acme"), "p1")
            .await
            .expect("find")
            .is_some(),
        "the key is stored with the parts"
    );

    // A duplicate id in the last part: nothing of the first.
    let fresh = records(2, dim);
    let result = store
        .insert_parts(parts(vec![fresh.clone(), vec![first[0].clone()]]), None)
        .await;
    assert!(
        matches!(result, Err(RepositoryError::Conflict(_))),
        "{result:?}"
    );
    assert_eq!(stored(&fresh).await, 0, "all or nothing across parts");

    // A wrong dimension in the second part: nothing of the first.
    let result = store
        .insert_parts(parts(vec![fresh.clone(), records(1, dim + 1)]), None)
        .await;
    assert!(
        matches!(result, Err(RepositoryError::DimensionMismatch { .. })),
        "{result:?}"
    );
    assert_eq!(stored(&fresh).await, 0, "all or nothing across parts");

    // A taken key: nothing.
    let result = store
        .insert_parts(parts(vec![fresh.clone()]), Some(key("p1")))
        .await;
    assert!(
        matches!(result, Err(RepositoryError::DuplicateKey(_))),
        "{result:?}"
    );
    assert_eq!(stored(&fresh).await, 0, "nothing under a taken key");

    // No parts at all, with a key: the key alone (a batch whose every item was refused).
    store
        .insert_parts(parts(Vec::new()), Some(key("p2")))
        .await
        .expect("a key alone");
    assert!(
        store
            .find_idempotency(&tenant("acme"), "p2")
            .await
            .expect("find")
            .is_some()
    );
}
