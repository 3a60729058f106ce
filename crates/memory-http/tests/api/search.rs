//! GET /v1/memory/search.

use serde_json::{Value, json};

use crate::helpers::{
    Options, OverloadedEmbedder, PickyEmbedder, assert_error, fields, message, spawn_app,
    spawn_with,
};
use std::sync::Arc;

#[tokio::test]
async fn search_finds_the_relevant_message_with_every_field() {
    let app = spawn_app().await;
    let mut body = message("acme", "I love Python programming");
    body["metadata"] = json!({"source": "web"});
    let stored: Value = app
        .post_message(&body, None)
        .await
        .json()
        .await
        .expect("json");
    app.post_message(&message("acme", "The weather in Porto is nice"), None)
        .await;
    app.post_message(&message("globex", "Python python python"), None)
        .await;

    let res = app
        .search(
            &[("tenant_id", "acme"), ("query", "Python"), ("top_k", "5")],
            None,
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let r: Value = res.json().await.expect("json");
    let items = r["items"].as_array().expect("items");
    assert_eq!(r["total"], items.len());
    assert_eq!(items.len(), 2, "only acme's messages: {r}");
    let top = &items[0];
    assert_eq!(top["message_id"], stored["id"]);
    assert_eq!(top["content"], "I love Python programming");
    assert_eq!(top["role"], "user");
    assert_eq!(top["metadata"], json!({"source": "web"}));
    assert_eq!(top["conversation_id"], "conv-1");
    assert_eq!(top["created_at"], stored["created_at"]);
    assert_eq!(top["importance"], stored["importance_score"]);
    for f in ["score", "similarity", "decay"] {
        assert!(top[f].is_f64(), "{f}: {top}");
    }
    assert!(top["score"].as_f64() >= items[1]["score"].as_f64());

    let r: Value = app
        .search(
            &[
                ("tenant_id", "acme"),
                ("query", "Python"),
                ("top_k", "1"),
                ("conversation_id", "conv-1"),
                ("importance_min", "0"),
                ("candidate_limit", "10"),
            ],
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["total"], 1);
}

#[tokio::test]
async fn modes_and_pending_embeddings_are_reported() {
    let app = spawn_with(Options {
        embedder: Some(Arc::new(PickyEmbedder)),
        ..Options::default()
    })
    .await;
    let m: Value = app
        .post_message(&message("acme", "poison pill about Python"), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(m["embedding_status"], "failed");
    app.post_message(&message("acme", "I love Python"), None)
        .await;

    let r: Value = app
        .search(&[("tenant_id", "acme"), ("query", "Python")], None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["mode"], "hybrid", "hybrid is the default: {r}");
    assert_eq!(r["pending_embeddings"], 1);
    assert_eq!(
        r["total"], 2,
        "the unembedded message is found lexically: {r}"
    );
    assert!(r["items"][0]["lexical"].is_f64() && r["items"][0]["relevance"].is_f64());
    // Each hybrid item says what its fusion is made of: the parts' totals, over the best's.
    let total = |item: &Value| {
        ["matched", "neighbours", "session", "date", "speaker"]
            .iter()
            .map(|k| item["signals"][*k].as_f64().expect("a signal"))
            .sum::<f64>()
    };
    let items = r["items"].as_array().expect("items");
    let best = items.iter().map(total).fold(0.0, f64::max);
    for item in items {
        let fusion = item["fusion"].as_f64().expect("fusion");
        assert!((fusion - total(item) / best).abs() < 1e-9, "{item}");
    }

    let r: Value = app
        .search(
            &[
                ("tenant_id", "acme"),
                ("query", "Python"),
                ("mode", "vector"),
            ],
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["mode"], "vector");
    assert_eq!(r["pending_embeddings"], 1);
    assert_eq!(r["total"], 1, "{r}");
    assert!(r["items"][0]["lexical"].is_null());
    assert!(
        r["items"][0]["signals"].is_null(),
        "vector mode has no signals"
    );
    // Vector mode: the relevance is the similarity on the absolute scale, for a scope the
    // size of the candidates (one).
    let similarity = r["items"][0]["similarity"].as_f64().expect("similarity");
    let expected = memory_core::scoring::similarity_relevance(similarity, 1);
    let relevance = r["items"][0]["relevance"].as_f64().expect("relevance");
    assert!((relevance - expected).abs() < 1e-12, "{r}");

    let err = assert_error(
        app.search(
            &[("tenant_id", "acme"), ("query", "x"), ("mode", "fuzzy")],
            None,
        )
        .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(fields(&err), ["mode"]);
}

/// Query parameters, and the fields the 422 must name.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

#[tokio::test]
async fn every_bad_parameter_is_a_422_naming_it() {
    let app = spawn_app().await;
    let cases: &[Case] = &[
        (&[], &["tenant_id", "query"]),
        (&[("tenant_id", "acme")], &["query"]),
        (&[("tenant_id", "acme"), ("query", "   ")], &["query"]),
        (
            &[("tenant_id", "acme"), ("query", "x"), ("top_k", "0")],
            &["top_k"],
        ),
        (
            &[("tenant_id", "acme"), ("query", "x"), ("top_k", "101")],
            &["top_k"],
        ),
        (
            &[("tenant_id", "acme"), ("query", "x"), ("top_k", "abc")],
            &["top_k"],
        ),
        (
            &[
                ("tenant_id", "acme"),
                ("query", "x"),
                ("importance_min", "2"),
            ],
            &["importance_min"],
        ),
        (
            &[
                ("tenant_id", "acme"),
                ("query", "x"),
                ("importance_min", "NaN"),
            ],
            &["importance_min"],
        ),
        (
            &[
                ("tenant_id", "acme"),
                ("query", "x"),
                ("candidate_limit", "1001"),
            ],
            &["candidate_limit"],
        ),
        (
            &[
                ("tenant_id", "acme"),
                ("query", "x"),
                ("top_k", "10"),
                ("candidate_limit", "5"),
            ],
            &["candidate_limit"],
        ),
        (
            &[
                ("tenant_id", "acme"),
                ("query", "x"),
                ("conversation_id", ""),
            ],
            &["conversation_id"],
        ),
        (
            &[("tenant_id", "acme"), ("query", "x"), ("limit", "3")],
            &["limit"],
        ),
    ];
    for (params, expected) in cases {
        let err = assert_error(app.search(params, None).await, 422, "validation_error").await;
        assert_eq!(fields(&err), *expected, "{params:?}");
    }
    let long_tenant = "t".repeat(65);
    let err = assert_error(
        app.search(&[("tenant_id", &long_tenant), ("query", "x")], None)
            .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(fields(&err), ["tenant_id"]);
}

/// A vector search cannot run without the embedder: 503 with Retry-After, the embedder's own
/// estimate rounded up (2.5 s -> 3). A hybrid search (the default) answers in lexical mode
/// instead.
#[tokio::test]
async fn an_overloaded_embedder_is_a_503_with_retry_after() {
    let app = spawn_with(Options {
        embedder: Some(Arc::new(OverloadedEmbedder)),
        ..Options::default()
    })
    .await;
    let res = app
        .search(
            &[("tenant_id", "acme"), ("query", "x"), ("mode", "vector")],
            None,
        )
        .await;
    assert_eq!(res.headers()["retry-after"], "3");
    assert_error(res, 503, "overloaded").await;
    let res = app
        .search(&[("tenant_id", "acme"), ("query", "x")], None)
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["mode"], "lexical");
    // Ingest still succeeds: the message is stored and embedded later.
    let res = app.post_message(&message("acme", "hi"), None).await;
    assert_eq!(res.status().as_u16(), 202);
    let m: Value = res.json().await.expect("json");
    assert_eq!(m["embedding_status"], "pending");
}

/// A store with only the required ports (messages, vectors): hybrid search runs on vectors,
/// lexical search and erasure are 501 `not_supported`, not a failure.
#[tokio::test]
async fn a_store_without_optional_ports_answers_501_for_what_it_lacks() {
    let store = Arc::new(memory_core::testkit::InMemoryStore::new(
        memory_core::testkit::ToyEmbedder::DIM,
    ));
    let app = spawn_with(Options {
        store: Some(memory_core::ports::StorePorts::new(store.clone(), store)),
        ..Options::default()
    })
    .await;
    let res = app
        .post_message(&message("acme", "I love Python"), None)
        .await;
    assert_eq!(res.status().as_u16(), 202);
    let res = app
        .search(&[("tenant_id", "acme"), ("query", "Python")], None)
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["mode"], "vector");
    assert_eq!(body["total"], 1);
    let res = app
        .search(
            &[
                ("tenant_id", "acme"),
                ("query", "Python"),
                ("mode", "lexical"),
            ],
            None,
        )
        .await;
    assert!(!res.headers().contains_key("retry-after"));
    assert_error(res, 501, "not_supported").await;
    let res = app.delete("/v1/tenants/acme/messages", None).await;
    assert_error(res, 501, "not_supported").await;
}
