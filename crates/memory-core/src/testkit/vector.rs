//! Contract checks of [`VectorSearch`]: cosine order, all of history, scopes and filters.

use chrono::Duration;

use super::{Fixture, archive_old, basis, conv, ids_of, insert, query, t0, tenant, tilted};
use crate::domain::{Importance, TenantId};
use crate::ports::{MessageStore, RetentionStore, VectorSearch};
use crate::retention::RetentionPolicy;

/// Candidates come most similar first, with their cosine similarity, at most `limit`.
pub async fn search_orders_by_similarity<S: MessageStore + VectorSearch>(store: &S, dim: usize) {
    // Angles 0.0, 0.2, ... from the query direction: similarity cos(angle), strictly falling.
    let mut expected = Vec::new();
    for i in (0..8).rev() {
        let angle = 0.2 * i as f32;
        let m = Fixture::new("acme", "c1", dim)
            .embedded(tilted(dim, angle))
            .build();
        insert(store, &m).await.expect("insert");
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
pub async fn search_whole_history<S: MessageStore + VectorSearch>(store: &S, dim: usize) {
    let old = Fixture::new("acme", "c1", dim)
        .created(t0() - Duration::days(400))
        .embedded(basis(dim, 1))
        .build();
    insert(store, &old).await.expect("insert old");
    for i in 0..300 {
        let m = Fixture::new("acme", "c1", dim)
            .created(t0() + Duration::seconds(i))
            .embedded(tilted(dim, 1.2))
            .build();
        insert(store, &m).await.expect("insert recent");
    }
    let got = ids_of(store, &query("acme", basis(dim, 1), 3)).await;
    assert_eq!(
        got.first(),
        Some(&old.id),
        "the best match is 400 days older than 300 others"
    );
}

/// No method that takes a tenant touches another tenant's rows.
pub async fn tenant_isolation<S: MessageStore + VectorSearch + RetentionStore>(
    store: &S,
    dim: usize,
) {
    let a = Fixture::new("tenant-a", "shared-conv", dim)
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(100))
        .build();
    let b = Fixture::new("tenant-b", "shared-conv", dim)
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(100))
        .build();
    insert(store, &a).await.expect("insert a");
    insert(store, &b).await.expect("insert b");
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
pub async fn filters<S: MessageStore + VectorSearch + RetentionStore>(store: &S, dim: usize) {
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
        insert(store, m).await.expect("insert");
    }
    assert_eq!(archive_old(store, "acme").await, 1);
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

/// A query embedding of another dimension is refused, naming both numbers.
pub async fn wrong_query_dimension_is_refused<S: MessageStore + VectorSearch>(
    store: &S,
    dim: usize,
) {
    assert_eq!(store.dimension(), dim, "the store reports its dimension");
    let q = query("acme", basis(dim + 1, 0), 5);
    match store.search_candidates(&q).await {
        Err(crate::error::RepositoryError::DimensionMismatch { expected, got }) => {
            assert_eq!((expected, got), (dim, dim + 1));
        }
        other => panic!("a wrong-dimension query must be refused, got {other:?}"),
    }
}
