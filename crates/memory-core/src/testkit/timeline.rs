//! Contract checks of [`Timeline`].

use chrono::Duration;

use super::{Fixture, archive_old, basis, conv, insert, t0, tenant};
use crate::ports::{MessageStore, RetentionStore, Timeline};

/// then id; nothing of another conversation or tenant; `None` above the limit.
pub async fn conversation_timeline<S: MessageStore + RetentionStore + Timeline>(
    store: &S,
    dim: usize,
) {
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
        insert(store, m).await.expect("insert");
    }
    assert_eq!(archive_old(store, "a").await, 1);
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
