//! Tenant isolation: a key bound to tenant acme tries every endpoint against tenant globex's
//! data — by id, by guessed ids, by search in both modes, by writes, by retention, by erasure —
//! and learns nothing and changes nothing. Both tenants use the same conversation id and the
//! same words, so any scope filter that forgot the tenant would show.

use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, TestApp, spawn_app_with};

for_each_store!(a_tenant_bound_key_never_reaches_another_tenant);

const ADMIN: &str = "admin-key";
const ACME: &str = "acme-key";
const GLOBEX: &str = "globex-key";

struct Client<'a> {
    app: &'a TestApp,
}

impl Client<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .app
            .client
            .request(method, self.app.url(path))
            .header("x-api-key", key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, key: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/v1/messages", key, Some(body))
            .await
    }

    async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, key, None).await
    }

    async fn search(&self, key: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .app
            .client
            .get(self.app.url("/v1/memory/search"))
            .header("x-api-key", key)
            .query(params)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["message_id"].as_str().expect("message_id").to_owned())
        .collect()
}

async fn a_tenant_bound_key_never_reaches_another_tenant(kind: StoreKind) {
    let app = spawn_app_with(kind, |s| {
        s.api_keys = format!("{ADMIN},{ACME}:acme,{GLOBEX}:globex").into();
    })
    .await;
    let c = Client { app: &app };
    let secret = "the globex merger with initech closes on March 3rd";
    let mut globex_ids = Vec::new();
    for body in [
        json!({"tenant_id": "globex", "conversation_id": "shared", "role": "user", "content": secret}),
        json!({"tenant_id": "globex", "conversation_id": "shared", "role": "assistant",
               "content": "noted: merger with initech, March 3rd",
               "created_at": "2024-01-01T00:00:00Z", "importance_override": 0.1}),
    ] {
        let (status, b) = c.post(GLOBEX, body).await;
        assert_eq!(status, 202, "{b}");
        globex_ids.push(b["id"].as_str().expect("id").to_owned());
    }
    let (status, _) = c
        .post(
            ACME,
            json!({"tenant_id": "acme", "conversation_id": "shared", "role": "user",
                   "content": "our picnic with initech is on March 3rd"}),
        )
        .await;
    assert_eq!(status, 202);

    // By id, and by guessed ids: another tenant's message reads exactly like one that does
    // not exist (404 not_found), so ids cannot be probed.
    let guessed = "0190b2a4-7c1e-7000-8000-000000000000";
    for id in globex_ids.iter().map(String::as_str).chain([guessed]) {
        let (status, body) = c.get(ACME, &format!("/v1/messages/{id}")).await;
        assert_eq!(status, 404, "{id}: {body}");
        assert_eq!(body["code"], "not_found");
        assert!(!body.to_string().contains("merger"), "{body}");
    }

    // By search: acme's own scope never yields globex's rows, in either mode, tenant-wide or
    // in the conversation id both tenants use; naming globex is forbidden.
    for mode in ["hybrid", "vector"] {
        for scope in [None, Some("shared")] {
            let mut params = vec![
                ("tenant_id", "acme"),
                ("query", "globex merger with initech March 3rd"),
                ("mode", mode),
                ("top_k", "50"),
                // Everything acme may reach, however unrelated to the query.
                ("min_relevance", "0"),
            ];
            if let Some(conv) = scope {
                params.push(("conversation_id", conv));
            }
            let (status, body) = c.search(ACME, &params).await;
            assert_eq!(status, 200, "{body}");
            let found = ids(&body);
            assert_eq!(found.len(), 1, "only acme's message: {body}");
            assert!(found.iter().all(|id| !globex_ids.contains(id)), "{body}");
            let (status, body) = c
                .search(
                    ACME,
                    &[("tenant_id", "globex"), ("query", "merger"), ("mode", mode)],
                )
                .await;
            assert_eq!((status, &body["code"]), (403, &json!("forbidden")));
        }
    }

    // Writes into the other tenant.
    let (status, body) = c
        .post(
            ACME,
            json!({"tenant_id": "globex", "conversation_id": "shared", "role": "user", "content": "injected"}),
        )
        .await;
    assert_eq!((status, &body["code"]), (403, &json!("forbidden")));

    // Retention: on the other tenant forbidden (dry run or not); on its own tenant it counts
    // and archives only its own rows, although globex's old, unimportant turn matches the rule.
    for dry_run in [true, false] {
        let (status, body) = c
            .call(
                reqwest::Method::POST,
                "/v1/admin/retention/run",
                ACME,
                Some(json!({"tenant_id": "globex", "actions": ["archive", "delete"], "dry_run": dry_run})),
            )
            .await;
        assert_eq!((status, &body["code"]), (403, &json!("forbidden")));
    }
    let (status, body) = c
        .call(
            reqwest::Method::POST,
            "/v1/admin/retention/run",
            ACME,
            Some(json!({"tenant_id": "acme", "actions": ["archive", "delete"], "dry_run": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["archived"], 0, "acme's only message is new: {body}");

    // Erasure: admin keys only, whichever tenant a bound key names.
    for path in [
        "/v1/conversations/shared?tenant_id=globex",
        "/v1/conversations/shared?tenant_id=acme",
        "/v1/tenants/globex/messages",
        "/v1/tenants/acme/messages",
    ] {
        let (status, body) = c.call(reqwest::Method::DELETE, path, ACME, None).await;
        assert_eq!(
            (status, &body["code"]),
            (403, &json!("forbidden")),
            "{path}"
        );
    }

    // Metrics are open but carry no tenant data.
    let metrics = app.get_text("/metrics").await;
    assert!(
        !metrics.contains("globex") && !metrics.contains("merger"),
        "no tenant ids or content in metrics"
    );

    // Nothing of globex changed: both messages readable by their owner and found by its own
    // search (archived messages take no part in search).
    for id in &globex_ids {
        let (status, body) = c.get(GLOBEX, &format!("/v1/messages/{id}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = c
        .search(
            GLOBEX,
            &[
                ("tenant_id", "globex"),
                ("query", "merger with initech"),
                ("conversation_id", "shared"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let found = ids(&body);
    assert_eq!(found.len(), 2, "{body}");
    assert!(found.iter().all(|id| globex_ids.contains(id)));
}
