//! `memory-client` against this server: every typed request of `memory-api-types` is
//! accepted as sent (the strict client types and the server's lenient readers agree), errors
//! arrive typed, and 429s and shed requests are retried until they pass. The workspace's
//! `tests/api/client.rs` runs the client on the real model and stores; here the service runs
//! on the testkit, so the overload cases are cheap to provoke.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use memory_client::types::requests::{
    BatchMessage, CreateBatch, CreateMessage, ListMessages, MetadataMode, RetentionRun, Search,
    UpdateMessage,
};
use memory_client::types::{RetentionActionDto, RoleDto, SearchModeDto, SortOrderDto};
use memory_client::{Error, MemoryClient, RetryPolicy};
use serde_json::json;

use crate::helpers::{Options, SlowEmbedder, spawn_app, spawn_with};

fn client(address: &str) -> MemoryClient {
    MemoryClient::new(address).expect("client")
}

#[tokio::test]
async fn every_typed_request_is_accepted_as_sent() {
    let app = spawn_app().await;
    let c = client(&app.address);
    let health = c.health().await.expect("health");
    assert_eq!(health.version, "9.9.9");

    let mut first = CreateMessage::new("acme", "c1", RoleDto::User, "I love hiking in the Alps");
    first.metadata = Some(json!({"source": "web", "priority": 3}));
    first.importance_override = Some(0.9);
    first.created_at = Some(Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap());
    let stored = c.add(&first).await.expect("add");
    assert_eq!(stored.created_at, first.created_at.unwrap());
    assert_eq!(stored.metadata, first.metadata.clone().unwrap());
    assert_eq!(c.get(stored.id).await.expect("get"), stored);

    let batch = CreateBatch {
        tenant_id: "acme".into(),
        messages: vec![
            CreateMessage::new("acme", "c2", RoleDto::Assistant, "Hiking boots matter").into(),
            BatchMessage {
                metadata: Some(json!({"source": "app"})),
                ..CreateMessage::new("acme", "c2", RoleDto::System, "Be brief").into()
            },
        ],
    };
    let outcome = c.add_batch(&batch).await.expect("batch");
    assert_eq!((outcome.created, outcome.failed), (2, 0));

    let mut search = Search::new("acme", "hiking");
    search.top_k = Some(5);
    search.candidate_limit = Some(50);
    search.mode = Some(SearchModeDto::Hybrid);
    search.importance_min = Some(0.0);
    search.created_after = Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap());
    search.filters = Some(json!({"source": "web", "priority": {"gte": 2}}));
    search.min_relevance = Some(0.0);
    let found = c.search(&search).await.expect("search");
    let ids: Vec<_> = found.items.iter().map(|i| i.message_id).collect();
    assert_eq!(ids, [stored.id], "only the message the filters allow");
    assert_eq!((found.min_relevance, found.below_min_relevance), (0.0, 0));
    search.min_relevance = Some(1.0);
    let found = c.search(&search).await.expect("search");
    assert!(
        found.items.is_empty() && found.below_min_relevance == 1,
        "{found:?}"
    );

    let listing = ListMessages {
        conversation_id: Some("c2".into()),
        role: Some(RoleDto::Assistant),
        archived: Some(false),
        order: Some(SortOrderDto::Desc),
        limit: Some(1),
        ..ListMessages::new("acme")
    };
    let page = c.list(&listing).await.expect("list");
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].content, "Hiking boots matter");
    let all = c
        .get_all(&ListMessages {
            limit: Some(1),
            ..ListMessages::new("acme")
        })
        .await
        .expect("get_all");
    assert_eq!(all.len(), 3, "every page followed");

    let patch = UpdateMessage {
        content: Some("I love hiking in the Dolomites".into()),
        metadata: Some(json!({"corrected": true})),
        metadata_mode: Some(MetadataMode::Merge),
        importance_override: Some(None),
    };
    let updated = c.update(stored.id, &patch).await.expect("update");
    assert_eq!(updated.content, "I love hiking in the Dolomites");
    assert_eq!(updated.metadata["source"], "web", "merged, not replaced");
    let history = c.history(stored.id).await.expect("history");
    assert_eq!(history.entries.len(), 1);
    assert_eq!(history.entries[0].old.content, "I love hiking in the Alps");

    let run = RetentionRun {
        tenant_id: "acme".into(),
        dry_run: true,
        actions: vec![RetentionActionDto::Archive, RetentionActionDto::Delete],
    };
    assert!(c.run_retention(&run).await.expect("retention").dry_run);

    c.delete(stored.id).await.expect("delete");
    let again = c.delete(stored.id).await.expect_err("deleted already");
    assert_eq!(again.status(), Some(404));
    let erased = c.delete_conversation("acme", "c2").await.expect("erase");
    assert_eq!(erased.deleted, 2);
    assert_eq!(c.delete_all("acme").await.expect("erase").deleted, 0);
}

#[tokio::test]
async fn a_422_is_a_typed_error_naming_the_field() {
    let app = spawn_app().await;
    let c = client(&app.address);
    let mut bad = CreateMessage::new("acme", "c1", RoleDto::User, "fine");
    bad.importance_override = Some(1.5);
    let Err(Error::Api(e)) = c.add(&bad).await else {
        panic!("expected a 422");
    };
    assert!(e.is_validation(), "{e}");
    assert_eq!(e.code, "validation_error");
    assert!(e.field("importance_override").is_some(), "{e:?}");
    assert!(
        e.request_id.is_some(),
        "the request id comes with the error"
    );
    assert_eq!(c.retries(), 0, "a 422 is never retried");
}

#[tokio::test]
async fn rate_limited_calls_wait_out_retry_after_and_pass() {
    let app = spawn_with(Options {
        rate_limit: "2/second",
        ..Options::default()
    })
    .await;
    let c = client(&app.address);
    for i in 0..6 {
        c.add(&CreateMessage::new(
            "acme",
            "c",
            RoleDto::User,
            format!("m{i}"),
        ))
        .await
        .expect("retried until admitted");
    }
    assert!(c.retries() >= 1, "some calls were rate limited and retried");
    let page = c.list(&ListMessages::new("acme")).await.expect("list");
    assert_eq!(page.messages.len(), 6, "no retry stored a message twice");

    // Without retries, the 429 arrives typed, with its Retry-After.
    let impatient = MemoryClient::builder(&app.address)
        .retry(RetryPolicy::none())
        .build()
        .expect("client");
    let mut last = None;
    for _ in 0..5 {
        if let Err(e) = impatient.list(&ListMessages::new("acme")).await {
            last = Some(e);
            break;
        }
    }
    let e = last.expect("a burst of 5 exceeds 2/second");
    let api = e.api().expect("an API error");
    assert!(api.is_rate_limited(), "{e}");
    assert!(api.retry_after.is_some_and(|d| d >= Duration::from_secs(1)));
}

#[tokio::test]
async fn shed_requests_are_retried_after_the_servers_delay() {
    let app = spawn_with(Options {
        max_in_flight: 1,
        embedder: Some(Arc::new(SlowEmbedder(Duration::from_millis(700)))),
        ..Options::default()
    })
    .await;
    let c = client(&app.address);
    let search = |q: &'static str| {
        let c = c.clone();
        async move {
            let mut s = Search::new("acme", q);
            s.mode = Some(SearchModeDto::Vector);
            c.search(&s).await
        }
    };
    let (a, b, d) = tokio::join!(search("a"), search("b"), search("d"));
    for r in [a, b, d] {
        r.expect("each search passes once a slot is free");
    }
    assert!(c.retries() >= 2, "two of three were shed first");
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_at_once() {
    let app = spawn_with(Options {
        rate_limit: "1/minute",
        ..Options::default()
    })
    .await;
    let c = MemoryClient::builder(&app.address)
        .retry(RetryPolicy {
            max_wait: Duration::from_secs(5),
            ..RetryPolicy::default()
        })
        .build()
        .expect("client");
    c.list(&ListMessages::new("acme")).await.expect("first");
    let start = std::time::Instant::now();
    let e = c.list(&ListMessages::new("acme")).await.expect_err("429");
    assert_eq!(e.status(), Some(429));
    assert!(start.elapsed() < Duration::from_secs(2), "not waited for");
    assert_eq!(c.retries(), 0);
}
