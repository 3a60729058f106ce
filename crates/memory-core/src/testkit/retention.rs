//! Contract checks of [`RetentionStore`]: archive, purge and policies.

use chrono::Duration;

use super::{Fixture, basis, ids_of, insert, query, t0, tenant};
use crate::ports::{MessageStore, RetentionStore, VectorSearch};
use crate::retention::RetentionPolicy;

/// Archive: age OR importance, counts, dry run changes nothing, archived stay readable.
pub async fn archive_semantics<S: MessageStore + VectorSearch + RetentionStore>(
    store: &S,
    dim: usize,
) {
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
        insert(store, m).await.expect("insert");
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
pub async fn purge_semantics<S: MessageStore + RetentionStore>(store: &S, dim: usize) {
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
        insert(store, m).await.expect("insert");
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

/// Policies: none by default, put creates, put again replaces, tenants are separate.
pub async fn retention_policies<S: RetentionStore>(store: &S, _dim: usize) {
    let acme = tenant("acme");
    assert_eq!(store.get_policy(&acme).await.expect("get"), None);
    let p = RetentionPolicy::new(10, 0.2, 30).expect("valid");
    store.put_policy(&acme, &p, t0()).await.expect("put");
    assert_eq!(store.get_policy(&acme).await.expect("get"), Some(p));
    let q = RetentionPolicy::new(60, 0.5, 365).expect("valid");
    store.put_policy(&acme, &q, t0()).await.expect("replace");
    let got = store
        .get_policy(&acme)
        .await
        .expect("get")
        .expect("present");
    assert_eq!((got.max_age_days(), got.delete_after_days()), (60, 365));
    assert!((got.importance_threshold().value() - 0.5).abs() < 1e-9);
    assert_eq!(store.get_policy(&tenant("other")).await.expect("get"), None);
}
