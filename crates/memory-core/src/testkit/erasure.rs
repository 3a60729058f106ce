//! Contract checks of [`Erasure`]: exactly what is named goes, archived copies and policy
//! included.

use chrono::Duration;

use super::{Fixture, basis, conv, ids_of, insert, query, t0, tenant};
use crate::domain::TenantId;
use crate::ports::{Erasure, MessageStore, RetentionStore, VectorSearch};
use crate::retention::RetentionPolicy;

/// policy included, and nothing of anyone else.
pub async fn erasure<S: MessageStore + VectorSearch + RetentionStore + Erasure>(
    store: &S,
    dim: usize,
) {
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
        insert(store, m).await.expect("insert");
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
        .put_policy(&tenant("a"), &RetentionPolicy::default(), t0())
        .await
        .expect("policy");
    store
        .put_policy(&tenant("b"), &RetentionPolicy::default(), t0())
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
