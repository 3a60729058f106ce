//! Relevance on an absolute scale and `min_relevance` (issue 19), with the real model.

use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, spawn_app, spawn_app_with};

for_each_store!(
    nothing_relevant_comes_back_empty_and_says_so,
    answers_that_share_no_word_are_kept_among_few_memories,
    relevance_does_not_depend_on_what_else_is_found,
    min_relevance_is_validated_and_configurable
);

async fn search(app: &crate::helpers::TestApp, params: &[(&str, &str)]) -> Value {
    let r = app.search(params).await;
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("json")
}

/// The case: a dog's name and a love of Python are no answer to a recipe.
async fn nothing_relevant_comes_back_empty_and_says_so(kind: StoreKind) {
    let app = spawn_app(kind).await;
    // Two conversations: a turn next to a relevant one in the same conversation comes
    // with it, whatever its own relevance (docs/scoring.md).
    app.store(
        "acme",
        "c1",
        "I love Python programming and machine learning",
    )
    .await;
    app.store("acme", "c2", "My dog is called Biscuit").await;

    for mode in ["hybrid", "vector"] {
        let body = search(
            &app,
            &[
                ("tenant_id", "acme"),
                ("query", "recipe for banana bread"),
                ("mode", mode),
            ],
        )
        .await;
        assert_eq!(body["items"], json!([]), "{mode}: {body}");
        assert_eq!(body["total"], 0);
        assert_eq!(body["min_relevance"], 0.3, "the default, reported");
        assert_eq!(
            body["below_min_relevance"], 2,
            "{mode}: both left out: {body}"
        );

        // Without a threshold both come back, and both score low on the absolute scale.
        let all = search(
            &app,
            &[
                ("tenant_id", "acme"),
                ("query", "recipe for banana bread"),
                ("mode", mode),
                ("min_relevance", "0"),
            ],
        )
        .await;
        let items = all["items"].as_array().expect("items");
        assert_eq!(items.len(), 2, "{all}");
        for i in items {
            let r = i["relevance"].as_f64().expect("relevance");
            assert!(r < 0.3, "{mode}: unrelated yet relevance {r}: {i}");
        }
        assert_eq!(all["below_min_relevance"], 0);
    }

    // The question it can answer is answered, with a high relevance; the unrelated memory
    // is left out.
    let body = search(
        &app,
        &[("tenant_id", "acme"), ("query", "What is my dog called?")],
    )
    .await;
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["content"], "My dog is called Biscuit");
    assert!(
        items[0]["relevance"].as_f64().expect("relevance") > 0.7,
        "{body}"
    );
    assert_eq!(body["below_min_relevance"], 1);
}

/// The same memory and query score the same relevance whether or not a better match is
/// stored beside it; only the order (and so the score) is relative.
async fn relevance_does_not_depend_on_what_else_is_found(kind: StoreKind) {
    let app = spawn_app(kind).await;
    // Two tenants of three memories each (the chance level of a cosine depends on how many
    // memories are searched): in one the dog's memory is the best match, in the other a
    // better one is stored beside it.
    let dog = "My dog is called Biscuit";
    app.store("alone", "c", dog).await;
    app.store("alone", "c", "The weather in Lisbon was sunny all week")
        .await;
    app.store("alone", "c", "I love Python programming").await;
    app.store("crowded", "c", dog).await;
    app.store(
        "crowded",
        "c",
        "Our dog Biscuit: the dog is called Biscuit, dog of dogs",
    )
    .await;
    app.store("crowded", "c", "The weather in Lisbon was sunny all week")
        .await;
    let find = |body: &Value| {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["content"] == dog)
            .cloned()
            .unwrap_or_else(|| panic!("{dog} missing: {body}"))
    };
    let params = |tenant: &'static str| {
        [
            ("tenant_id", tenant),
            ("query", "What is my dog called?"),
            ("min_relevance", "0"),
            ("top_k", "10"),
        ]
    };
    let alone = search(&app, &params("alone")).await;
    let crowded = search(&app, &params("crowded")).await;
    let (a, c) = (find(&alone), find(&crowded));
    assert_eq!(alone["items"][0]["content"], dog);
    assert_ne!(crowded["items"][0]["content"], dog, "outranked: {crowded}");
    let relevance = |i: &Value| i["relevance"].as_f64().expect("relevance");
    assert!(
        (relevance(&a) - relevance(&c)).abs() < 1e-6,
        "{a} against {c}"
    );
    assert_eq!(a["similarity"], c["similarity"]);
    assert!(
        a["score"].as_f64() > c["score"].as_f64(),
        "the order is relative"
    );
}

async fn min_relevance_is_validated_and_configurable(kind: StoreKind) {
    let app = spawn_app(kind).await;
    for bad in ["1.5", "-0.1", "high"] {
        let r = app
            .search(&[
                ("tenant_id", "acme"),
                ("query", "x"),
                ("min_relevance", bad),
            ])
            .await;
        assert_eq!(r.status().as_u16(), 422, "{bad}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["details"][0]["field"], "min_relevance", "{body}");
    }
    let r = app
        .client
        .post(app.url("/v1/memory/search"))
        .json(&json!({"tenant_id": "acme", "query": "x", "min_relevance": 2}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 422);

    // A server configured to keep everything returns the unrelated memory.
    let lenient = spawn_app_with(kind, |s| s.search_min_relevance = 0.0).await;
    lenient.store("acme", "c", "My dog is called Biscuit").await;
    let body = search(
        &lenient,
        &[("tenant_id", "acme"), ("query", "recipe for banana bread")],
    )
    .await;
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["min_relevance"], 0.0);
}

/// A user's few memories answer everyday questions that share no word with them: their
/// cosines (0.36-0.47) are far above what chance gives among 4 memories (docs/scoring.md).
async fn answers_that_share_no_word_are_kept_among_few_memories(kind: StoreKind) {
    let app = spawn_app(kind).await;
    for fact in [
        "I am allergic to peanuts",
        "I adopted a cat named Miso last spring",
        "I work as a nurse at the city hospital",
        "Our team standup is at 9:30 every weekday",
    ] {
        app.store("acme", "c", fact).await;
    }
    for (question, answer) in [
        ("what food must I avoid?", "I am allergic to peanuts"),
        (
            "do I have any pets?",
            "I adopted a cat named Miso last spring",
        ),
        (
            "what do I do for a living?",
            "I work as a nurse at the city hospital",
        ),
    ] {
        let body = search(
            &app,
            &[("tenant_id", "acme"), ("query", question), ("top_k", "1")],
        )
        .await;
        assert_eq!(body["items"][0]["content"], answer, "{question}: {body}");
        assert_eq!(body["items"][0]["lexical"], 0.0, "no shared word: {body}");
    }
}
