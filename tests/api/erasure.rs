//! Erasure for privacy requests: admin keys only, idempotent, never another tenant's data.

use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, TestApp, spawn_app_with};

for_each_store!(
    erasing_a_conversation_touches_nothing_else,
    erasing_a_tenant_touches_no_other_tenant
);

const ADMIN: &str = "admin-key";
const ACME: &str = "acme-key";

async fn keyed(kind: StoreKind) -> TestApp {
    spawn_app_with(kind, |s| s.api_keys = format!("{ADMIN},{ACME}:acme").into()).await
}

async fn post(app: &TenantApp<'_>, tenant: &str, conversation: &str, content: &str) -> String {
    let r = app.0.client.post(app.0.url("/v1/messages")).header("x-api-key", ADMIN)
        .json(&json!({"tenant_id": tenant, "conversation_id": conversation, "role": "user", "content": content}))
        .send().await.expect("request");
    assert_eq!(r.status().as_u16(), 202);
    r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

struct TenantApp<'a>(&'a TestApp);

impl TenantApp<'_> {
    async fn exists(&self, id: &str) -> bool {
        let r = self
            .0
            .client
            .get(self.0.url(&format!("/v1/messages/{id}")))
            .header("x-api-key", ADMIN)
            .send()
            .await
            .expect("request");
        r.status().as_u16() == 200
    }

    async fn delete(&self, path: &str, key: &str) -> reqwest::Response {
        self.0
            .client
            .delete(self.0.url(path))
            .header("x-api-key", key)
            .send()
            .await
            .expect("request")
    }
}

async fn erasing_a_conversation_touches_nothing_else(kind: StoreKind) {
    let app = keyed(kind).await;
    let t = TenantApp(&app);
    let doomed = post(&t, "acme", "conv-1", "my phone number is 555-0100").await;
    let other_conv = post(&t, "acme", "conv-2", "keep this").await;
    let other_tenant = post(&t, "globex", "conv-1", "same conversation id, other tenant").await;
    let r = t
        .delete("/v1/conversations/conv-1?tenant_id=acme", ACME)
        .await;
    assert_eq!(
        r.status().as_u16(),
        403,
        "tenant-bound keys cannot erase, even their own tenant"
    );
    let r = t
        .delete("/v1/conversations/conv-1?tenant_id=acme", "wrong")
        .await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(t.exists(&doomed).await);

    let r = t
        .delete("/v1/conversations/conv-1?tenant_id=acme", ADMIN)
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"tenant_id": "acme", "conversation_id": "conv-1", "deleted": 1})
    );
    assert!(!t.exists(&doomed).await, "erased");
    assert!(
        t.exists(&other_conv).await,
        "the tenant's other conversations stay"
    );
    assert!(
        t.exists(&other_tenant).await,
        "the same conversation id of another tenant stays"
    );
    let r = t
        .delete("/v1/conversations/conv-1?tenant_id=acme", ADMIN)
        .await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["deleted"],
        0,
        "idempotent"
    );
    let r = t.delete("/v1/conversations/conv-1", ADMIN).await;
    assert_eq!(r.status().as_u16(), 422, "tenant_id is required");
    let found = app
        .client
        .get(app.url("/v1/memory/search"))
        .header("x-api-key", ADMIN)
        .query(&[("tenant_id", "acme"), ("query", "phone number")])
        .send()
        .await
        .expect("request");
    let body: Value = found.json().await.expect("json");
    assert!(
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["content"] != "my phone number is 555-0100"),
        "gone from search too"
    );
}

async fn erasing_a_tenant_touches_no_other_tenant(kind: StoreKind) {
    let app = keyed(kind).await;
    let t = TenantApp(&app);
    let a1 = post(&t, "acme", "c1", "acme one").await;
    let a2 = post(&t, "acme", "c2", "acme two").await;
    let g = post(&t, "globex", "c1", "globex one").await;
    // An archived copy must go too.
    let r = app.client.post(app.url("/v1/messages")).header("x-api-key", ADMIN)
        .json(&json!({"tenant_id": "acme", "conversation_id": "c3", "role": "user", "content": "old", "created_at": (chrono::Utc::now() - chrono::Duration::days(60)).to_rfc3339()}))
        .send().await.expect("request");
    let old: Value = r.json().await.expect("json");
    let r = app
        .client
        .post(app.url("/v1/admin/retention/run"))
        .header("x-api-key", ADMIN)
        .json(&json!({"tenant_id": "acme", "actions": ["archive"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.json::<Value>().await.expect("json")["archived"], 1);

    assert_eq!(
        t.delete("/v1/tenants/acme/messages", ACME)
            .await
            .status()
            .as_u16(),
        403
    );
    let r = t.delete("/v1/tenants/acme/messages", ADMIN).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"tenant_id": "acme", "deleted": 3})
    );
    for id in [&a1, &a2, old["id"].as_str().expect("id")] {
        assert!(!t.exists(id).await, "{id} erased");
    }
    assert!(t.exists(&g).await, "globex untouched");
    assert_eq!(
        t.delete("/v1/tenants/acme/messages", ADMIN)
            .await
            .json::<Value>()
            .await
            .expect("json")["deleted"],
        0
    );
}
