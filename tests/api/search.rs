//! GET /v1/memory/search with the real model: relevance, scopes, filters, shapes.

use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, spawn_app};

for_each_store!(
    seed_flow_finds_what_the_user_said,
    search_respects_tenant_and_conversation_scopes,
    filters_and_limits,
    search_validation_errors,
    lexical_mode_finds_words_without_the_model
);

async fn seed_flow_finds_what_the_user_said(kind: StoreKind) {
    let app = spawn_app(kind).await;
    for text in [
        "I love Python programming",
        "The weather in Lisbon was sunny all week",
        "My sister's wedding is on June 3rd in Porto",
        "I adopted a cat named Miso last spring",
    ] {
        app.store("acme", "conv-1", text).await;
    }
    // The seed's example flow.
    let r = app
        .search(&[
            ("tenant_id", "acme"),
            ("query", "What programming languages do I like?"),
        ])
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    let items = body["items"].as_array().expect("items");
    assert_eq!(body["total"].as_u64(), Some(items.len() as u64));
    assert_eq!(items[0]["content"], "I love Python programming");
    let top = &items[0];
    for f in ["message_id", "content", "role", "created_at"] {
        assert!(top[f].is_string(), "{f} in {top}");
    }
    assert!(top["metadata"].is_object());
    let (score, relevance, decay, imp) = (
        top["score"].as_f64().expect("score"),
        top["relevance"].as_f64().expect("relevance"),
        top["decay"].as_f64().expect("decay"),
        top["importance"].as_f64().expect("importance"),
    );
    // The seed's formula with the fused order in similarity's place: 1 for the best.
    assert!(
        (score - (0.6 + 0.3 * imp + 0.1 * decay)).abs() < 1e-6,
        "the seed's formula: {top}"
    );
    assert!(
        relevance > 0.3 && relevance < 1.0,
        "related, not a paraphrase: {top}"
    );
    assert_eq!(body["mode"], "hybrid", "hybrid is the default");
    assert!(
        top["similarity"].as_f64().expect("similarity") > 0.3 && top["lexical"].as_f64().is_some()
    );
    // Vector mode is the seed's ranking exactly: similarity is the relevance.
    let r = app
        .search(&[
            ("tenant_id", "acme"),
            ("query", "What programming languages do I like?"),
            ("mode", "vector"),
        ])
        .await;
    let vector: Value = r.json().await.expect("json");
    let v = &vector["items"][0];
    assert_eq!(v["content"], "I love Python programming");
    let (vs, vsim, vdec, vimp) = (
        v["score"].as_f64().expect("score"),
        v["similarity"].as_f64().expect("sim"),
        v["decay"].as_f64().expect("decay"),
        v["importance"].as_f64().expect("imp"),
    );
    assert!(
        (vs - (0.6 * vsim + 0.3 * vimp + 0.1 * vdec)).abs() < 1e-6,
        "{v}"
    );
    assert!(decay > 0.99, "just stored");
    let scores: Vec<f64> = items
        .iter()
        .map(|i| i["score"].as_f64().expect("score"))
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    // Other questions find their answers, the default threshold notwithstanding: "pet" and
    // the cat share no word, and a cosine of 0.33 is well above chance among 4 memories.
    assert_eq!(
        app.search_contents(&[("tenant_id", "acme"), ("query", "pet"), ("top_k", "1")])
            .await,
        ["I adopted a cat named Miso last spring"]
    );
    assert_eq!(
        app.search_contents(&[
            ("tenant_id", "acme"),
            ("query", "When is the wedding?"),
            ("top_k", "1")
        ])
        .await,
        ["My sister's wedding is on June 3rd in Porto"]
    );
}

async fn search_respects_tenant_and_conversation_scopes(kind: StoreKind) {
    let app = spawn_app(kind).await;
    app.store("acme", "conv-1", "Our launch date is March 3")
        .await;
    app.store("acme", "conv-2", "The launch was moved to April")
        .await;
    app.store("globex", "conv-1", "Globex launch secrets").await;
    let acme = app
        .search_contents(&[("tenant_id", "acme"), ("query", "launch"), ("top_k", "10")])
        .await;
    assert_eq!(acme.len(), 2);
    assert!(
        acme.iter().all(|c| !c.contains("Globex")),
        "never another tenant's data"
    );
    let conv2 = app
        .search_contents(&[
            ("tenant_id", "acme"),
            ("conversation_id", "conv-2"),
            ("query", "launch"),
        ])
        .await;
    assert_eq!(conv2, ["The launch was moved to April"]);
    assert!(
        app.search_contents(&[("tenant_id", "initech"), ("query", "launch")])
            .await
            .is_empty()
    );
}

async fn filters_and_limits(kind: StoreKind) {
    let app = spawn_app(kind).await;
    for i in 0..6 {
        let r = app.post_message(&json!({"tenant_id": "t", "conversation_id": "c", "role": "user", "content": format!("note {i} about gardening and tomatoes"), "importance_override": if i < 2 { 1.0 } else { 0.0 }})).await;
        assert_eq!(r.status().as_u16(), 202);
    }
    assert_eq!(
        app.search_contents(&[("tenant_id", "t"), ("query", "gardening")])
            .await
            .len(),
        5,
        "top_k defaults to 5"
    );
    assert_eq!(
        app.search_contents(&[("tenant_id", "t"), ("query", "gardening"), ("top_k", "2")])
            .await
            .len(),
        2
    );
    let important = app
        .search_contents(&[
            ("tenant_id", "t"),
            ("query", "gardening"),
            ("importance_min", "0.9"),
            ("top_k", "10"),
        ])
        .await;
    assert_eq!(
        important.len(),
        2,
        "importance_min keeps the two with override 1.0 (0.94): {important:?}"
    );
    assert_eq!(
        app.search_contents(&[
            ("tenant_id", "t"),
            ("query", "gardening"),
            ("candidate_limit", "3"),
            ("top_k", "3")
        ])
        .await
        .len(),
        3
    );
}

async fn search_validation_errors(kind: StoreKind) {
    let app = spawn_app(kind).await;
    for (params, field) in [
        (vec![("query", "x")], "tenant_id"),
        (vec![("tenant_id", "t")], "query"),
        (
            vec![("tenant_id", "t"), ("query", "x"), ("top_k", "0")],
            "top_k",
        ),
        (
            vec![("tenant_id", "t"), ("query", "x"), ("top_k", "101")],
            "top_k",
        ),
        (
            vec![("tenant_id", "t"), ("query", "x"), ("top_k", "many")],
            "top_k",
        ),
        (
            vec![("tenant_id", "t"), ("query", "x"), ("importance_min", "2")],
            "importance_min",
        ),
        (
            vec![
                ("tenant_id", "t"),
                ("query", "x"),
                ("candidate_limit", "100000"),
            ],
            "candidate_limit",
        ),
    ] {
        let r = app.search(&params).await;
        assert!(r.status().is_client_error(), "{field}: {}", r.status());
        let body: Value = r.json().await.expect("json");
        assert!(body["code"].is_string(), "{body}");
        let text = body.to_string();
        assert!(text.contains(field), "the error names {field}: {text}");
    }
}

/// `mode=lexical` ranks by BM25 alone (the query is not embedded): it finds the turn that
/// names the words, stemmed, in the conversation's time order with its neighbours, and not a
/// paraphrase that only the model would connect.
async fn lexical_mode_finds_words_without_the_model(kind: StoreKind) {
    let app = spawn_app(kind).await;
    app.store("acme", "c", "We finally adopted a puppy last weekend")
        .await;
    app.store("acme", "c", "A young dog joined our family")
        .await;
    app.store("acme", "c", "Lunch was fine").await;
    let r = app
        .search(&[
            ("tenant_id", "acme"),
            ("conversation_id", "c"),
            ("query", "when did they adopt the puppies?"),
            ("mode", "lexical"),
        ])
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["mode"], "lexical");
    let items = body["items"].as_array().expect("items");
    assert_eq!(
        items[0]["content"], "We finally adopted a puppy last weekend",
        "adopt/adopted and puppies/puppy match once stemmed: {body}"
    );
    assert_eq!(items[0]["lexical"], 1.0);
    assert!(items.iter().all(|i| i["similarity"] == 0.0), "{body}");
    assert!(
        items
            .iter()
            .skip(1)
            .all(|i| i["lexical"].as_f64().expect("lexical") == 0.0),
        "the paraphrase shares no word: {body}"
    );
}
