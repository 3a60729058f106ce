//! Rate limits per client IP and per API key: 429 JSON with Retry-After.

use crate::helpers::{Options, assert_error, client_from, spawn_with};

async fn get(client: &reqwest::Client, url: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = client.get(url);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn each_client_ip_gets_its_own_budget() {
    let app = spawn_with(Options {
        rate_limit: "3/minute",
        ..Options::default()
    })
    .await;
    let url = app.url("/v1/messages/550e8400-e29b-41d4-a716-446655440000");
    for _ in 0..3 {
        assert_eq!(get(&app.client, &url, None).await.status().as_u16(), 404);
    }
    let res = get(&app.client, &url, None).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(res.headers().contains_key("x-request-id"));
    assert_error(res, 429, "rate_limited").await;
    // Another address is not throttled; health and metrics never are.
    let other = client_from([127, 0, 0, 2]);
    assert_eq!(get(&other, &url, None).await.status().as_u16(), 404);
    assert_eq!(
        get(&app.client, &app.url("/v1/admin/health"), None)
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        get(&app.client, &app.url("/metrics"), None)
            .await
            .status()
            .as_u16(),
        200
    );
    let metrics = get(&app.client, &app.url("/metrics"), None)
        .await
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("status=\"429\""), "{metrics}");
}

#[tokio::test]
async fn each_api_key_gets_its_own_budget_across_addresses() {
    let app = spawn_with(Options {
        api_keys: "k1,k2",
        rate_limit: "3/minute",
        ..Options::default()
    })
    .await;
    let url = app.url("/v1/messages/550e8400-e29b-41d4-a716-446655440000");
    for i in 0..3 {
        let c = client_from([127, 0, 0, 10 + i]);
        assert_eq!(get(&c, &url, Some("k1")).await.status().as_u16(), 404);
    }
    // A fresh address, but k1 is spent.
    let res = get(&client_from([127, 0, 0, 20]), &url, Some("k1")).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 429, "rate_limited").await;
    // k2 from another fresh address is fine.
    assert_eq!(
        get(&client_from([127, 0, 0, 21]), &url, Some("k2"))
            .await
            .status()
            .as_u16(),
        404
    );
}
