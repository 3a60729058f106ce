//! What the browser console reads, on the real stack: the tenants a key may see, a tenant's
//! conversations a page at a time, and a retention preview that changes nothing.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, TestApp, spawn_app_with};

for_each_store!(
    tenants_and_conversations_show_what_the_key_may_see,
    a_retention_preview_counts_and_samples_without_changing_anything,
    an_importance_override_is_kept_changed_and_cleared
);

const KEYS: &str = "admin,acme-key:acme";

async fn get(app: &TestApp, path: &str, key: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let r = app
        .client
        .get(app.url(path))
        .header("x-api-key", key)
        .query(query)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

/// Stores `(conversation, content, days ago)` for `tenant` in one batch; returns the ids.
async fn import(app: &TestApp, tenant: &str, items: &[(&str, &str, i64)]) -> Vec<String> {
    let messages: Vec<Value> = items
        .iter()
        .map(|(c, content, days)| {
            let at =
                (Utc::now() - Duration::days(*days)).to_rfc3339_opts(SecondsFormat::Micros, true);
            json!({"conversation_id": c, "role": "user", "content": content, "created_at": at})
        })
        .collect();
    let r = app
        .client
        .post(app.url("/v1/messages/batch"))
        .header("x-api-key", "admin")
        .json(&json!({"tenant_id": tenant, "messages": messages}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 207);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["failed"], 0, "{body}");
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn tenants_and_conversations_show_what_the_key_may_see(kind: StoreKind) {
    let app = spawn_app_with(kind, |s| s.api_keys = KEYS.into()).await;
    import(
        &app,
        "acme",
        &[
            ("trip", "We fly to Lisbon in May", 3),
            ("trip", "Book the hotel near the river", 2),
            ("work", "The quarterly report is due Friday", 1),
        ],
    )
    .await;
    import(&app, "globex", &[("ops", "Rotate the keys", 0)]).await;

    let (status, admin) = get(&app, "/v1/tenants", "admin", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(admin, json!({"admin": true, "tenants": ["acme", "globex"]}));
    let (_, bound) = get(&app, "/v1/tenants", "acme-key", &[]).await;
    assert_eq!(
        bound,
        json!({"admin": false, "tenants": ["acme"]}),
        "a bound key sees its own tenants and learns nothing of others"
    );

    // Most recently active first, one per page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut first_cursor = None;
    loop {
        let mut q = vec![("tenant_id", "acme"), ("limit", "1")];
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let (status, page) = get(&app, "/v1/conversations", "acme-key", &q).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["conversations"]
                .as_array()
                .expect("list")
                .iter()
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(c) => {
                first_cursor.get_or_insert_with(|| c.to_owned());
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    let ids: Vec<&str> = seen
        .iter()
        .map(|c| c["conversation_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["work", "trip"]);
    assert_eq!(
        (seen[1]["messages"].as_u64(), seen[1]["archived"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(
        seen[1]["first_message_at"].as_str() < seen[1]["last_message_at"].as_str(),
        "{}",
        seen[1]
    );

    let (status, body) = get(
        &app,
        "/v1/conversations",
        "acme-key",
        &[("tenant_id", "globex")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    let cursor = first_cursor.expect("a second page");
    let (status, body) = get(
        &app,
        "/v1/conversations",
        "admin",
        &[("tenant_id", "globex"), ("cursor", &cursor)],
    )
    .await;
    assert_eq!(status, 422, "another tenant's cursor: {body}");
    assert_eq!(body["details"][0]["field"], "cursor");
    let (status, body) = get(&app, "/v1/conversations", "admin", &[("limit", "0")]).await;
    assert_eq!(status, 422);
    let mut fields: Vec<&str> = body["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().expect("field"))
        .collect();
    fields.sort();
    assert_eq!(fields, ["limit", "tenant_id"]);
}

async fn a_retention_preview_counts_and_samples_without_changing_anything(kind: StoreKind) {
    let app = spawn_app_with(kind, |s| s.api_keys = KEYS.into()).await;
    let ids = import(
        &app,
        "acme",
        &[
            (
                "old",
                "My sister's wedding is in Porto next June, we are all invited",
                45,
            ),
            (
                "old",
                "Remember that I am allergic to peanuts and shellfish",
                40,
            ),
            (
                "new",
                "I just adopted a cat called Miso and she loves boxes",
                0,
            ),
        ],
    )
    .await;
    let preview = |key: &'static str, tenant: &'static str| {
        let app = &app;
        async move {
            get(
                app,
                "/v1/admin/retention/preview",
                key,
                &[("tenant_id", tenant)],
            )
            .await
        }
    };
    let (status, before) = preview("acme-key", "acme").await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        before["policy"],
        json!({"max_age_days": 30, "importance_threshold": 0.35, "delete_after_days": 90})
    );
    // The counts are a dry run's.
    let r = app
        .client
        .post(app.url("/v1/admin/retention/run"))
        .header("x-api-key", "admin")
        .json(&json!({"tenant_id": "acme", "dry_run": true, "actions": ["archive", "delete"]}))
        .send()
        .await
        .expect("request");
    let dry: Value = r.json().await.expect("json");
    assert_eq!(before["archive"]["count"], dry["archived"], "{before}");
    assert_eq!(before["delete"]["count"], dry["deleted"]);
    // The two old messages are in the sample, oldest first, and match the rule.
    let sample = before["archive"]["sample"].as_array().expect("sample");
    assert_eq!(
        sample.len() as u64,
        before["archive"]["count"].as_u64().expect("count")
    );
    let sampled: Vec<&str> = sample
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        sampled[..2],
        [ids[0].as_str(), ids[1].as_str()],
        "oldest first"
    );
    let cutoff = before["archive"]["created_before"]
        .as_str()
        .expect("cutoff");
    let threshold = before["archive"]["importance_below"]
        .as_f64()
        .expect("threshold");
    for m in sample {
        assert!(
            m["created_at"].as_str().expect("at") < cutoff
                || m["importance_score"].as_f64().expect("importance") < threshold,
            "{m}"
        );
        assert_eq!(m["archived"], false);
    }
    // Nothing changed.
    let (_, archived) = get(
        &app,
        "/v1/messages",
        "admin",
        &[("tenant_id", "acme"), ("archived", "true")],
    )
    .await;
    assert_eq!(
        archived["messages"],
        json!([]),
        "a preview archives nothing"
    );

    let (status, body) = preview("acme-key", "globex").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = get(
        &app,
        "/v1/admin/retention/preview",
        "admin",
        &[("tenant_id", "acme"), ("limit", "201")],
    )
    .await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (422, Some("limit"))
    );

    // After a real run the preview has nothing left to archive; the archived copies are
    // too recent to delete.
    let r = app
        .client
        .post(app.url("/v1/admin/retention/run"))
        .header("x-api-key", "admin")
        .json(&json!({"tenant_id": "acme", "actions": ["archive"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let (_, after) = preview("admin", "acme").await;
    assert_eq!(
        (
            after["archive"]["count"].as_u64(),
            after["delete"]["count"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(after["archive"]["sample"], json!([]));
}

async fn an_importance_override_is_kept_changed_and_cleared(kind: StoreKind) {
    let app = spawn_app_with(kind, |_| {}).await;
    let r = app
        .post_message(
            &json!({"tenant_id": "acme", "conversation_id": "c", "role": "user",
            "content": "Remember: the launch is on the 3rd", "importance_override": 0.9}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let created: Value = r.json().await.expect("json");
    assert_eq!(created["importance_override"], 0.9, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let plain = app.store("acme", "c", "and bring snacks").await;
    assert_eq!(plain["importance_override"], Value::Null);

    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/v1/messages/{id}")))
            .json(&body)
            .send()
    };
    let listed = |app: &TestApp| {
        let client = app.client.clone();
        let url = app.url("/v1/messages");
        async move {
            let page: Value = client
                .get(url)
                .query(&[("tenant_id", "acme"), ("order", "asc")])
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            page["messages"][0]["importance_override"].clone()
        }
    };
    assert_eq!(listed(&app).await, 0.9, "listings carry it");
    let changed: Value = patch(json!({"importance_override": 0.2}))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(changed["importance_override"], 0.2, "{changed}");
    assert!(
        changed["importance_score"].as_f64() < created["importance_score"].as_f64(),
        "rescored: {changed}"
    );
    // A content change keeps the override.
    let edited: Value = patch(json!({"content": "The launch moved to the 5th"}))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(edited["importance_override"], 0.2, "{edited}");
    let cleared: Value = patch(json!({"importance_override": null}))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(cleared["importance_override"], Value::Null, "{cleared}");
    assert_eq!(listed(&app).await, Value::Null);
}
