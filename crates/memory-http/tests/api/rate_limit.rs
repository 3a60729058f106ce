//! Rate limits per client IP and per API key: 429 JSON with Retry-After. Behind a trusted
//! proxy, the client IP comes from X-Forwarded-For.

use crate::helpers::{Options, assert_error, client_from, spawn_with};

async fn get(client: &reqwest::Client, url: &str, key: Option<&str>) -> reqwest::Response {
    send(client.get(url), key).await
}

async fn send(mut req: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::Response {
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

async fn get_from(app_url: &str, forwarded_for: &str, key: Option<&str>) -> reqwest::Response {
    let req = reqwest::Client::new()
        .get(app_url)
        .header("x-forwarded-for", forwarded_for);
    send(req, key).await
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_gets_its_own_budget() {
    // The test client connects from 127.0.0.1: it plays the reverse proxy.
    let app = spawn_with(Options {
        rate_limit: "3/minute",
        trusted_proxies: "127.0.0.1,::1",
        ..Options::default()
    })
    .await;
    let url = app.url("/v1/messages/550e8400-e29b-41d4-a716-446655440000");
    // A client may prepend anything; the proxy's appended hop is what counts.
    let alice = "6.6.6.6, 203.0.113.1";
    for _ in 0..3 {
        assert_eq!(get_from(&url, alice, None).await.status().as_u16(), 404);
    }
    let res = get_from(&url, alice, None).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 429, "rate_limited").await;
    // Forging the leftmost entry does not buy a new budget.
    let res = get_from(&url, "198.51.100.99, 203.0.113.1", None).await;
    assert_error(res, 429, "rate_limited").await;
    // Another client behind the same proxy has its own budget.
    let bob = "203.0.113.2";
    for _ in 0..3 {
        assert_eq!(get_from(&url, bob, None).await.status().as_u16(), 404);
    }
    assert_error(get_from(&url, bob, None).await, 429, "rate_limited").await;
    // The proxy's own requests (no header) are keyed on the proxy.
    assert_eq!(get(&app.client, &url, None).await.status().as_u16(), 404);
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // Only 10.0.0.0/8 is trusted: loopback's X-Forwarded-For is a spoof.
    let app = spawn_with(Options {
        rate_limit: "3/minute",
        trusted_proxies: "10.0.0.0/8",
        ..Options::default()
    })
    .await;
    let url = app.url("/v1/messages/550e8400-e29b-41d4-a716-446655440000");
    for i in 1..=3 {
        let client = format!("203.0.113.{i}");
        assert_eq!(get_from(&url, &client, None).await.status().as_u16(), 404);
    }
    let res = get_from(&url, "203.0.113.4", None).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_an_api_key_keeps_one_budget() {
    let app = spawn_with(Options {
        api_keys: "k1",
        rate_limit: "3/minute",
        trusted_proxies: "127.0.0.0/8",
        ..Options::default()
    })
    .await;
    let url = app.url("/v1/messages/550e8400-e29b-41d4-a716-446655440000");
    for i in 1..=3 {
        let client = format!("203.0.113.{i}");
        let res = get_from(&url, &client, Some("k1")).await;
        assert_eq!(res.status().as_u16(), 404);
    }
    // A fresh forwarded address, but k1 is spent.
    let res = get_from(&url, "203.0.113.9", Some("k1")).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 429, "rate_limited").await;
}

/// Everything the process logs, captured once for the whole test binary (the server's
/// handlers run on actix's own threads, so a thread-local subscriber would see nothing).
fn captured_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::sync::{Arc, Mutex, OnceLock};
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        buf
    })
    .clone()
}

struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The request log names the address the limits applied to: behind a trusted proxy, the
/// forwarded client, not the proxy.
#[tokio::test]
async fn the_request_log_names_the_rate_limited_client() {
    let logs = captured_logs();
    let app = spawn_with(Options {
        trusted_proxies: "127.0.0.1",
        ..Options::default()
    })
    .await;
    let res = app
        .client
        .get(app.url("/v1/messages/550e8400-e29b-41d4-a716-446655440000"))
        .header("x-forwarded-for", "203.0.113.77")
        .header("x-request-id", "client-ip-log-test")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 404);
    let text = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("client-ip-log-test") && l.contains("request completed"))
        .unwrap_or_else(|| panic!("no request log line:\n{text}"));
    assert!(line.contains("client_ip=203.0.113.77"), "{line}");
}
