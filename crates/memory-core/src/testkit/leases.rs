//! Contract checks of [`Leases`]: one holder at a time, renewal, expiry, release.

use std::time::Duration;

use futures::future::join_all;

use crate::ports::Leases;

const HOUR: Duration = Duration::from_secs(3600);

/// A free lease is taken; another holder is refused until it is released; the holder renews
/// it; leases of other names are independent; only the holder can release.
pub async fn one_holder_at_a_time<S: Leases>(store: &S, _dim: usize) {
    let take = |holder: &'static str| store.try_lease("retention", holder, HOUR);
    assert!(take("a").await.expect("lease"), "a free lease is taken");
    assert!(!take("b").await.expect("lease"), "held by another");
    assert!(take("a").await.expect("lease"), "the holder renews it");
    assert!(
        store.try_lease("other", "b", HOUR).await.expect("lease"),
        "another name is another lease"
    );
    store
        .release_lease("retention", "b")
        .await
        .expect("release");
    assert!(!take("b").await.expect("lease"), "only the holder releases");
    store
        .release_lease("retention", "a")
        .await
        .expect("release");
    assert!(take("b").await.expect("lease"), "released: free again");
    assert!(!take("a").await.expect("lease"));
}

/// An expired lease is free: a holder that died stops blocking the others.
pub async fn expired_leases_are_free<S: Leases>(store: &S, _dim: usize) {
    let short = Duration::from_millis(300);
    assert!(store.try_lease("job", "a", short).await.expect("lease"));
    assert!(!store.try_lease("job", "b", short).await.expect("lease"));
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        store.try_lease("job", "b", HOUR).await.expect("lease"),
        "expired: taken over"
    );
    assert!(!store.try_lease("job", "a", HOUR).await.expect("lease"));
}

/// Many holders racing for one free lease: exactly one wins.
pub async fn racing_holders_get_one_lease<S: Leases>(store: &S, _dim: usize) {
    let holders: Vec<String> = (0..8).map(|i| format!("replica-{i}")).collect();
    let won = join_all(holders.iter().map(|h| store.try_lease("race", h, HOUR))).await;
    let winners = won
        .into_iter()
        .map(|r| r.expect("lease"))
        .filter(|w| *w)
        .count();
    assert_eq!(winners, 1, "one holder at a time");
}
