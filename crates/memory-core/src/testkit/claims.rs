//! Contract checks of [`MessageStore::claim_pending`] for stores shared by several server
//! processes (the catch-up workers of replicas take disjoint batches).

use chrono::Duration;
use futures::future::join_all;

use super::{Fixture, insert, t0};
use crate::ports::MessageStore;

/// For stores shared by several processes: concurrent claims take disjoint batches, a claim
/// runs out, and claimed messages still count as pending.
pub async fn claims_are_disjoint<S: MessageStore>(store: &S, dim: usize) {
    use std::collections::HashSet;
    use std::time::Duration as StdDuration;
    let mut all = HashSet::new();
    for i in 0..12_i64 {
        let m = Fixture::new("acme", "c1", dim)
            .created(t0() - Duration::seconds(100 - i))
            .build();
        insert(store, &m).await.expect("insert");
        all.insert(m.id);
    }
    let hour = StdDuration::from_secs(3600);
    let batches = join_all((0..4).map(|_| store.claim_pending(5, hour))).await;
    let mut seen = HashSet::new();
    for batch in batches {
        for m in batch.expect("claim") {
            assert!(seen.insert(m.id), "claimed twice: {}", m.id);
        }
    }
    assert_eq!(seen, all, "every pending message claimed once");
    assert!(
        store
            .claim_pending(5, hour)
            .await
            .expect("claim")
            .is_empty(),
        "nothing left unclaimed"
    );
    assert_eq!(store.count_pending(None, None).await.expect("count"), 12);
    // A claim that runs out frees its messages.
    let fresh = Fixture::new("acme", "c2", dim).build();
    insert(store, &fresh).await.expect("insert");
    let short = StdDuration::from_millis(200);
    let got = store.claim_pending(5, short).await.expect("claim");
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), [fresh.id]);
    assert!(
        store
            .claim_pending(5, short)
            .await
            .expect("claim")
            .is_empty()
    );
    std::thread::sleep(StdDuration::from_millis(500));
    let again = store.claim_pending(5, short).await.expect("claim");
    assert_eq!(again.iter().map(|m| m.id).collect::<Vec<_>>(), [fresh.id]);
}
