//! CORS: listed origins get the headers, others do not.

use crate::helpers::{Options, TestApp, spawn_with};

const ALLOWED: &str = "https://app.example";

async fn app() -> TestApp {
    spawn_with(Options {
        origins: vec![ALLOWED.into()],
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn listed_origins_get_cors_headers_and_others_do_not() {
    let app = app().await;
    let res = app
        .client
        .get(app.url("/v1/admin/health"))
        .header("origin", ALLOWED)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], ALLOWED);
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );

    let res = app
        .client
        .get(app.url("/v1/admin/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    // The request is served (it may come from a server), but browsers get no CORS grant.
    assert_eq!(res.status().as_u16(), 200);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn preflight_is_answered_for_listed_origins_only() {
    let app = app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/messages"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-api-key")
            .send()
    };
    let res = preflight(ALLOWED).await.expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(res.headers()["access-control-allow-origin"], ALLOWED);
    let methods = res.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let headers = res.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_lowercase();
    assert!(
        headers.contains("x-api-key") && headers.contains("content-type"),
        "{headers}"
    );

    let res = preflight("https://evil.example").await.expect("request");
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    assert!(res.status().as_u16() < 500, "{}", res.status());
}

#[tokio::test]
async fn no_origins_configured_means_no_cors_headers() {
    let app = spawn_with(Options::default()).await;
    let res = app
        .client
        .get(app.url("/v1/admin/health"))
        .header("origin", ALLOWED)
        .send()
        .await
        .expect("request");
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}
