//! The console's static files: served without a key, with a strict CSP, off on request; and
//! the score components it draws.

use serde_json::Value;

use crate::helpers::{Options, message, spawn_with};

#[tokio::test]
async fn the_console_is_served_without_a_key_under_a_strict_policy() {
    let app = spawn_with(Options {
        api_keys: "admin",
        ..Options::default()
    })
    .await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    let page = app.get("/console", None).await.text().await.expect("text");
    assert!(page.contains("id=\"api-key\""), "the page asks for a key");
    // The data behind it still needs one.
    assert_eq!(app.get("/v1/tenants", None).await.status().as_u16(), 401);
    assert_eq!(
        app.get("/v1/tenants", Some("admin"))
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn memory_console_false_unroutes_it() {
    let app = spawn_with(Options {
        console: false,
        ..Options::default()
    })
    .await;
    for path in ["/console", "/console/console.js"] {
        assert_eq!(app.get(path, None).await.status().as_u16(), 404, "{path}");
    }
}

#[tokio::test]
async fn every_result_carries_the_components_of_its_score() {
    let app = spawn_with(Options::default()).await;
    for content in [
        "my dog is called Rex",
        "the dog park opens at nine",
        "taxes are due",
    ] {
        let r = app.post_message(&message("acme", content), None).await;
        assert_eq!(r.status().as_u16(), 202);
    }
    for mode in ["hybrid", "vector", "lexical"] {
        let r = app
            .search(
                &[
                    ("tenant_id", "acme"),
                    ("query", "dog"),
                    ("mode", mode),
                    ("min_relevance", "0"),
                ],
                None,
            )
            .await;
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.expect("json");
        let items = body["items"].as_array().expect("items");
        assert!(!items.is_empty(), "{mode}");
        for item in items {
            let f = |k: &str| item[k].as_f64().unwrap_or_else(|| panic!("{k} in {item}"));
            let recomputed = 0.6 * f("fusion") + 0.3 * f("importance") + 0.1 * f("decay");
            assert!((recomputed - f("score")).abs() < 1e-9, "{mode}: {item}");
        }
    }
}
