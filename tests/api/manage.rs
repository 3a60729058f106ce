//! The lifecycle API on the real stack: listing under concurrent writes, updates that
//! re-embed, deletes, batches with bad items, idempotent retries.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, TestApp, spawn_app, spawn_app_with};

for_each_store!(
    listing_pages_are_stable_under_concurrent_writes,
    a_bad_cursor_or_another_listings_cursor_is_a_422,
    an_update_is_re_embedded_searched_and_recorded,
    delete_is_idempotent_and_bound_to_the_keys_tenants,
    a_batch_stores_the_good_items_and_reports_the_bad,
    retries_with_an_idempotency_key_store_nothing_twice,
    search_filters_narrow_every_mode
);

/// Every page of a listing, following `next_cursor`.
async fn all_pages(app: &TestApp, params: &[(&str, &str)]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, &str)> = params.to_vec();
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let r = app
            .client
            .get(app.url("/v1/messages"))
            .query(&q)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200);
        let page: Value = r.json().await.expect("json");
        out.extend(
            page["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

async fn batch(app: &TestApp, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut r = app.client.post(app.url("/v1/messages/batch")).json(body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    r.send().await.expect("request")
}

async fn listing_pages_are_stable_under_concurrent_writes(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let messages: Vec<Value> = (0..60)
        .map(|i| json!({"conversation_id": format!("c{}", i % 3), "role": "user", "content": format!("note {i}"),
            "created_at": format!("2025-01-01T00:{:02}:00Z", i % 30)}))
        .collect();
    let r = batch(
        &app,
        &json!({"tenant_id": "acme", "messages": messages}),
        None,
    )
    .await;
    assert_eq!(r.status().as_u16(), 207);
    let before: HashSet<String> = all_pages(&app, &[("tenant_id", "acme"), ("limit", "1000")])
        .await
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(before.len(), 60);
    // Page through in small pages, both ways, while another client keeps writing (new
    // messages, and back-dated ones that land between the pages already read).
    let writer = {
        let (client, url) = (app.client.clone(), app.url("/v1/messages"));
        tokio::spawn(async move {
            for i in 0..40 {
                let created = if i % 2 == 0 {
                    json!(null)
                } else {
                    json!(format!("2025-01-01T00:{:02}:30Z", i % 30))
                };
                let r = client.post(&url).json(&json!({"tenant_id": "acme", "conversation_id": "c9", "role": "user", "content": format!("late {i}"), "created_at": created})).send().await.expect("request");
                assert_eq!(r.status().as_u16(), 202);
            }
        })
    };
    for order in ["asc", "desc"] {
        let listed = all_pages(
            &app,
            &[("tenant_id", "acme"), ("limit", "7"), ("order", order)],
        )
        .await;
        let ids: Vec<String> = listed
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect();
        let distinct: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(
            distinct.len(),
            ids.len(),
            "{order}: no message repeated across pages"
        );
        assert!(
            before.is_subset(&distinct),
            "{order}: no message that existed before is skipped"
        );
        let keys: Vec<(String, String)> = listed
            .iter()
            .map(|m| {
                (
                    m["created_at"].as_str().expect("t").to_owned(),
                    m["id"].as_str().expect("id").to_owned(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if order == "desc" {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{order}: ordered by (created_at, id)");
    }
    writer.await.expect("writer");
    // The filters, on the real stores.
    let c1 = all_pages(
        &app,
        &[
            ("tenant_id", "acme"),
            ("conversation_id", "c1"),
            ("created_before", "2025-01-01T00:15:00Z"),
        ],
    )
    .await;
    assert!(
        !c1.is_empty()
            && c1.iter().all(|m| m["conversation_id"] == "c1"
                && m["created_at"].as_str().expect("t") < "2025-01-01T00:15:00Z")
    );
    assert!(
        all_pages(&app, &[("tenant_id", "other")]).await.is_empty(),
        "tenant scope"
    );
    assert!(
        all_pages(&app, &[("tenant_id", "acme"), ("archived", "true")])
            .await
            .is_empty()
    );
}

async fn a_bad_cursor_or_another_listings_cursor_is_a_422(kind: StoreKind) {
    let app = spawn_app(kind).await;
    for i in 0..3 {
        app.store("acme", "c", &format!("m{i}")).await;
    }
    let r = app
        .client
        .get(app.url("/v1/messages"))
        .query(&[("tenant_id", "acme"), ("limit", "1")])
        .send()
        .await
        .expect("request");
    let page: Value = r.json().await.expect("json");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    for params in [
        vec![("tenant_id", "globex"), ("cursor", cursor.as_str())],
        vec![
            ("tenant_id", "acme"),
            ("order", "desc"),
            ("cursor", cursor.as_str()),
        ],
        vec![("tenant_id", "acme"), ("cursor", "garbage")],
        vec![("tenant_id", "acme"), ("limit", "0")],
        vec![("tenant_id", "acme"), ("limit", "1001")],
        vec![("tenant_id", "acme"), ("created_after", "yesterday")],
        vec![("tenant_id", "acme"), ("archived", "maybe")],
    ] {
        let r = app
            .client
            .get(app.url("/v1/messages"))
            .query(&params)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 422, "{params:?}");
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["code"], "validation_error");
    }
}

async fn an_update_is_re_embedded_searched_and_recorded(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let stored = app.store("acme", "c", "My favourite colour is green").await;
    app.store("acme", "c", "I work as a nurse in Porto").await;
    let id = stored["id"].as_str().expect("id");
    let r = app
        .client
        .patch(app.url(&format!("/v1/messages/{id}")))
        .json(&json!({"content": "I have a golden retriever called Biscuit", "metadata": {"corrected": true}, "metadata_mode": "merge"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let updated: Value = r.json().await.expect("json");
    assert_eq!(
        updated["content"],
        "I have a golden retriever called Biscuit"
    );
    assert_eq!(updated["metadata"], json!({"corrected": true}));
    assert_eq!(
        updated["embedding_status"], "completed",
        "re-embedded at once"
    );
    for mode in ["vector", "hybrid", "lexical"] {
        let query = if mode == "lexical" {
            "Biscuit the retriever"
        } else {
            "what is the name of my dog?"
        };
        let found = app
            .search_contents(&[
                ("tenant_id", "acme"),
                ("query", query),
                ("top_k", "1"),
                ("mode", mode),
            ])
            .await;
        assert_eq!(
            found,
            ["I have a golden retriever called Biscuit"],
            "{mode}: the new content is found"
        );
        let old = app
            .search_contents(&[
                ("tenant_id", "acme"),
                ("query", "favourite colour green"),
                ("top_k", "5"),
                ("mode", mode),
            ])
            .await;
        assert!(
            !old.iter().any(|c| c.contains("green")),
            "{mode}: the old content is gone: {old:?}"
        );
    }
    let r = app
        .client
        .patch(app.url(&format!("/v1/messages/{id}")))
        .json(&json!({"importance_override": 1.0}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let rescored: Value = r.json().await.expect("json");
    assert!(rescored["importance_score"].as_f64() > updated["importance_score"].as_f64());
    let history: Value = app
        .client
        .get(app.url(&format!("/v1/messages/{id}/history")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["old"]["content"], "My favourite colour is green");
    assert_eq!(
        entries[0]["new"]["content"],
        "I have a golden retriever called Biscuit"
    );
    assert_eq!(entries[0]["changed"], json!(["content", "metadata"]));
    assert_eq!(entries[0]["actor"], "anonymous");
    assert_eq!(entries[1]["changed"], json!(["importance_score"]));
    for bad in [
        json!({}),
        json!({"content": ""}),
        json!({"metadata_mode": "upsert", "metadata": {}}),
        json!({"colour": "red"}),
    ] {
        let r = app
            .client
            .patch(app.url(&format!("/v1/messages/{id}")))
            .json(&bad)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 422, "{bad}");
    }
    let r = app
        .client
        .patch(app.url(&format!("/v1/messages/{}", uuid::Uuid::now_v7())))
        .json(&json!({"content": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
}

async fn delete_is_idempotent_and_bound_to_the_keys_tenants(kind: StoreKind) {
    let app = spawn_app_with(kind, |s| s.api_keys = "admin,acme-key:acme".into()).await;
    let post = |key: &'static str, tenant: &'static str, content: &'static str| {
        app.client.post(app.url("/v1/messages")).header("x-api-key", key).json(&json!({"tenant_id": tenant, "conversation_id": "c", "role": "user", "content": content})).send()
    };
    let mine: Value = post("acme-key", "acme", "acme's note")
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let theirs: Value = post("admin", "globex", "globex's note")
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let delete = |key: &'static str, id: String| {
        app.client
            .delete(app.url(&format!("/v1/messages/{id}")))
            .header("x-api-key", key)
            .send()
    };
    let theirs_id = theirs["id"].as_str().expect("id").to_owned();
    let r = delete("acme-key", theirs_id.clone())
        .await
        .expect("request");
    assert_eq!(
        r.status().as_u16(),
        404,
        "another tenant's message is not visible"
    );
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{theirs_id}")))
        .header("x-api-key", "admin")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200, "and it is still there");
    let mine_id = mine["id"].as_str().expect("id").to_owned();
    assert_eq!(
        delete("acme-key", mine_id.clone())
            .await
            .expect("request")
            .status()
            .as_u16(),
        204
    );
    assert_eq!(
        delete("acme-key", mine_id.clone())
            .await
            .expect("request")
            .status()
            .as_u16(),
        404,
        "then 404"
    );
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{mine_id}")))
        .header("x-api-key", "admin")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404, "gone");
    let found = app
        .client
        .get(app.url("/v1/memory/search"))
        .header("x-api-key", "admin")
        .query(&[("tenant_id", "acme"), ("query", "acme's note")])
        .send()
        .await
        .expect("request")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(found["items"], json!([]), "not searchable any more");
    assert_eq!(
        delete("acme-key", "not-a-uuid".into())
            .await
            .expect("request")
            .status()
            .as_u16(),
        422
    );
}

async fn a_batch_stores_the_good_items_and_reports_the_bad(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let body = json!({"tenant_id": "acme", "messages": [
        {"conversation_id": "c1", "role": "user", "content": "I moved to Lisbon in March", "created_at": "2024-03-01T09:00:00Z", "metadata": {"source": "import"}},
        {"conversation_id": "c1", "role": "robot", "content": "bad role"},
        {"conversation_id": "c2", "role": "assistant", "content": ""},
        {"conversation_id": "c2", "role": "user", "content": "in the future", "created_at": "2999-01-01T00:00:00Z"},
        {"conversation_id": "c2", "role": "user", "content": "I play the cello", "importance_override": 0.9},
        {"tenant_id": "globex", "conversation_id": "c2", "role": "user", "content": "wrong tenant"},
        {"conversation_id": "c3", "role": "user", "content": "typed wrong", "importance_override": "high"},
        "not an object"
    ]});
    let r = batch(&app, &body, None).await;
    assert_eq!(r.status().as_u16(), 207);
    let out: Value = r.json().await.expect("json");
    let statuses: Vec<u64> = out["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(statuses, [201, 422, 422, 422, 201, 422, 422, 422]);
    assert_eq!(
        (out["created"].as_u64(), out["failed"].as_u64()),
        (Some(2), Some(6))
    );
    let fields = |i: usize| -> Vec<String> {
        out["results"][i]["error"]["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| d["field"].as_str().expect("field").to_owned())
            .collect()
    };
    assert_eq!(fields(1), ["role"]);
    assert_eq!(fields(2), ["content"]);
    assert_eq!(fields(3), ["created_at"]);
    assert_eq!(fields(5), ["tenant_id"]);
    assert_eq!(fields(6), ["importance_override"]);
    let first = out["results"][0]["id"].as_str().expect("id");
    let got: Value = app
        .client
        .get(app.url(&format!("/v1/messages/{first}")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(got["created_at"], "2024-03-01T09:00:00Z", "back-dated");
    assert_eq!(got["metadata"], json!({"source": "import"}));
    assert_eq!(got["embedding_status"], "completed");
    let found = app
        .search_contents(&[
            ("tenant_id", "acme"),
            ("query", "which instrument do I play?"),
            ("top_k", "1"),
        ])
        .await;
    assert_eq!(found, ["I play the cello"]);
    let listed = all_pages(&app, &[("tenant_id", "acme")]).await;
    assert_eq!(listed.len(), 2, "only the good items are stored");
    for bad in [
        json!({"tenant_id": "acme", "messages": []}),
        json!({"tenant_id": "", "messages": [{"conversation_id": "c", "role": "user", "content": "x"}]}),
        json!({"messages": [{}]}),
    ] {
        assert_eq!(
            batch(&app, &bad, None).await.status().as_u16(),
            422,
            "{bad}"
        );
    }
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"conversation_id": "c", "role": "user", "content": format!("m{i}")}))
        .collect();
    assert_eq!(
        batch(
            &app,
            &json!({"tenant_id": "acme", "messages": too_many}),
            None
        )
        .await
        .status()
        .as_u16(),
        422
    );
}

async fn retries_with_an_idempotency_key_store_nothing_twice(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let body = json!({"tenant_id": "acme", "conversation_id": "c", "role": "user", "content": "exactly once"});
    let post = |body: Value, key: &'static str| {
        app.client
            .post(app.url("/v1/messages"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first: Value = post(body.clone(), "k-1")
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let r = post(body.clone(), "k-1").await.expect("request");
    assert_eq!(r.status().as_u16(), 202, "a retry gets the original status");
    let again: Value = r.json().await.expect("json");
    assert_eq!(again["id"], first["id"], "and the original message");
    let r = post(json!({"tenant_id": "acme", "conversation_id": "c", "role": "user", "content": "something else"}), "k-1").await.expect("request");
    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(
        r.json::<Value>().await.expect("json")["code"],
        "idempotency_key_reused"
    );
    // Keys are per tenant: the same key in another tenant is another write.
    let other: Value = post(json!({"tenant_id": "globex", "conversation_id": "c", "role": "user", "content": "exactly once"}), "k-1").await.expect("request").json().await.expect("json");
    assert_ne!(other["id"], first["id"]);
    assert_eq!(
        all_pages(&app, &[("tenant_id", "acme")]).await.len(),
        1,
        "stored once"
    );
    let r = app
        .client
        .post(app.url("/v1/messages"))
        .header("Idempotency-Key", "has space")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 422);

    // A batch and a PATCH replay the same way.
    let b = json!({"tenant_id": "acme", "messages": [{"conversation_id": "c", "role": "user", "content": "b1"}, {"conversation_id": "c", "role": "robot", "content": "b2"}]});
    let one: Value = batch(&app, &b, Some("b-1"))
        .await
        .json()
        .await
        .expect("json");
    let two: Value = batch(&app, &b, Some("b-1"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(one["replayed"], false);
    assert_eq!(two["replayed"], true);
    assert_eq!(one["results"][0]["id"], two["results"][0]["id"]);
    assert_eq!(two["results"][1]["status"], 422);
    assert_eq!(all_pages(&app, &[("tenant_id", "acme")]).await.len(), 2);
    let id = first["id"].as_str().expect("id");
    let patch = || {
        app.client
            .patch(app.url(&format!("/v1/messages/{id}")))
            .header("Idempotency-Key", "p-1")
            .json(&json!({"content": "exactly once, corrected"}))
            .send()
    };
    assert_eq!(patch().await.expect("request").status().as_u16(), 200);
    assert_eq!(patch().await.expect("request").status().as_u16(), 200);
    let history: Value = app
        .client
        .get(app.url(&format!("/v1/messages/{id}/history")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        history["entries"].as_array().expect("entries").len(),
        1,
        "a replayed PATCH changes nothing again"
    );
}

async fn search_filters_narrow_every_mode(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let body = json!({"tenant_id": "acme", "messages": [
        {"conversation_id": "c", "role": "user", "content": "I booked a flight to Lisbon for the conference", "created_at": "2024-03-01T09:00:00Z", "metadata": {"source": "web", "priority": 3, "tags": ["travel", "work"]}},
        {"conversation_id": "c", "role": "user", "content": "My flight to Tokyo leaves on Friday", "created_at": "2024-06-01T09:00:00Z", "metadata": {"source": "app", "priority": 1, "tags": ["travel"]}},
        {"conversation_id": "c", "role": "user", "content": "The flight home from Rome was delayed", "created_at": "2024-09-01T09:00:00Z", "metadata": {"source": "web", "draft": true}}
    ]});
    assert_eq!(batch(&app, &body, None).await.status().as_u16(), 207);
    let search = |body: Value| {
        let (client, url) = (app.client.clone(), app.url("/v1/memory/search"));
        async move {
            let r = client.post(url).json(&body).send().await.expect("request");
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("json");
            (status, body)
        }
    };
    let contents = |body: &Value| -> Vec<String> {
        let mut c: Vec<String> = body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["content"].as_str().expect("content").to_owned())
            .collect();
        c.sort();
        c
    };
    for mode in ["hybrid", "vector", "lexical"] {
        for (filters, after, want) in [
            (
                json!({"source": "web"}),
                None,
                vec![
                    "I booked a flight to Lisbon for the conference",
                    "The flight home from Rome was delayed",
                ],
            ),
            (
                json!({"priority": {"gte": 2}}),
                None,
                vec!["I booked a flight to Lisbon for the conference"],
            ),
            (
                json!({"tags": {"contains": "travel"}, "NOT": {"priority": 3}}),
                None,
                vec!["My flight to Tokyo leaves on Friday"],
            ),
            (
                json!({"OR": [{"draft": {"exists": true}}, {"source": {"in": ["app"]}}]}),
                Some("2024-05-01T00:00:00Z"),
                vec![
                    "My flight to Tokyo leaves on Friday",
                    "The flight home from Rome was delayed",
                ],
            ),
            (json!({"no_such_field": "x"}), None, vec![]),
        ] {
            let (status, out) = search(json!({"tenant_id": "acme", "query": "flight", "top_k": 10, "mode": mode, "filters": filters, "created_after": after})).await;
            assert_eq!(status, 200, "{mode} {filters}: {out}");
            assert_eq!(contents(&out), want, "{mode} {filters}");
        }
    }
    let (status, out) = search(json!({"tenant_id": "acme", "query": "flight", "filters": {"OR": [{"a": 1}, {"priority": {"between": [1, 2]}}]}})).await;
    assert_eq!(status, 422);
    assert_eq!(out["details"][0]["field"], "filters.OR[1].priority.between");
    let (status, _) = search(json!({"tenant_id": "acme", "query": "flight", "created_after": "2024-06-01T00:00:00Z", "created_before": "2024-01-01T00:00:00Z"})).await;
    assert_eq!(status, 422, "an empty time range");
    // The GET takes the same filters as a JSON string.
    let found = app
        .search_contents(&[
            ("tenant_id", "acme"),
            ("query", "flight"),
            ("filters", r#"{"source":"app"}"#),
            ("created_before", "2024-12-01T00:00:00Z"),
        ])
        .await;
    assert_eq!(found, ["My flight to Tokyo leaves on Friday"]);
}
