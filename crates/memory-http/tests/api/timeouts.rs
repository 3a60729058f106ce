//! Every request is bounded by the request timeout: 504 JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::{Options, SlowEmbedder, assert_error, message, spawn_with};

#[tokio::test]
async fn slow_requests_are_cut_off_with_a_504() {
    let app = spawn_with(Options {
        timeout: Duration::from_millis(300),
        embedder: Some(Arc::new(SlowEmbedder(Duration::from_secs(5)))),
        ..Options::default()
    })
    .await;
    let start = Instant::now();
    let res = app
        .search(&[("tenant_id", "acme"), ("query", "x")], None)
        .await;
    assert!(res.headers().contains_key("x-request-id"));
    assert_error(res, 504, "timeout").await;
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_error(
        app.post_message(&message("acme", "hi"), None).await,
        504,
        "timeout",
    )
    .await;
    // Requests that need no embedding are still fast.
    assert_eq!(
        app.get("/v1/admin/health", None).await.status().as_u16(),
        200
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains("status=\"504\""), "{metrics}");
}

/// Beyond `max_in_flight` requests in flight, one more is shed at once with 503 `overloaded`
/// and Retry-After; health still answers; the slot is free again when a request ends.
#[tokio::test]
async fn requests_beyond_max_in_flight_are_shed_at_once() {
    let app = spawn_with(Options {
        max_in_flight: 2,
        embedder: Some(Arc::new(SlowEmbedder(Duration::from_millis(1500)))),
        ..Options::default()
    })
    .await;
    let search = |q: &'static str| {
        let app = &app;
        async move {
            app.search(
                &[("tenant_id", "acme"), ("query", q), ("mode", "vector")],
                None,
            )
            .await
        }
    };
    let slow = async {
        let (a, b) = tokio::join!(search("a"), search("b"));
        (a.status().as_u16(), b.status().as_u16())
    };
    let shed = async {
        // Let the two slow searches take both slots first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let start = Instant::now();
        let res = search("c").await;
        let took = start.elapsed();
        assert!(res.headers().contains_key("retry-after"));
        assert_error(res, 503, "overloaded").await;
        assert!(took < Duration::from_millis(500), "shed at once: {took:?}");
        let health = app.get("/v1/admin/health", None).await.status().as_u16();
        assert_eq!(health, 200, "health is never shed");
    };
    let ((a, b), ()) = tokio::join!(slow, shed);
    assert_eq!((a, b), (200, 200), "the admitted requests are served");
    assert_eq!(
        search("d").await.status().as_u16(),
        200,
        "slots are released"
    );
}
