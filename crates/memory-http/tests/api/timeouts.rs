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
