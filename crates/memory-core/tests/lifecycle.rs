//! The lifecycle use cases (list, update, delete, history, batch, idempotent retries,
//! import) on the in-memory store and the toy embedder, with mocks where a race or a
//! failure must be staged.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::executor::block_on;
use memory_core::access::TenantAccess;
use memory_core::domain::Embedding;
use memory_core::domain::{
    Actor, EmbeddingStatus, IdempotencyKey, ListParams, ListRequest, MessagePatch, NewMessage,
    TenantId,
};
use memory_core::error::{CoreError, EmbedderError, RepositoryError};
use memory_core::mocks::{MockEditing, MockEmbedder, MockMessageStore, MockVectorSearch};
use memory_core::ports::Embedder as _;
use memory_core::ports::MessageStore as _;
use memory_core::ports::StorePorts;
use memory_core::testkit::{InMemoryStore, ToyEmbedder};
use memory_core::{MemoryService, ServiceConfig};

fn service() -> (Arc<InMemoryStore>, MemoryService) {
    let store = Arc::new(InMemoryStore::new(ToyEmbedder::DIM));
    let service = MemoryService::new(
        StorePorts::full(store.clone()),
        Arc::new(ToyEmbedder),
        ServiceConfig::default(),
    )
    .expect("service");
    (store, service)
}

fn new(tenant: &str, content: &str) -> NewMessage {
    NewMessage::parse(tenant, "c", "user", content, None, None, None).expect("valid")
}

fn key(k: &str, fingerprint: &str) -> IdempotencyKey {
    IdempotencyKey::parse(k, fingerprint).expect("valid key")
}

fn listing(tenant: &str, limit: i64, cursor: Option<&str>) -> ListRequest {
    ListRequest::parse(&ListParams {
        tenant_id: tenant,
        limit: Some(limit),
        cursor,
        ..ListParams::default()
    })
    .expect("valid listing")
}

fn only(tenant: &str) -> TenantAccess {
    TenantAccess::Only(BTreeSet::from([TenantId::parse(tenant).expect("valid")]))
}

#[test]
fn pages_follow_the_cursor_and_end() {
    block_on(async {
        let (_, s) = service();
        for i in 0..5 {
            s.ingest(new("acme", &format!("m{i}")), &TenantAccess::All)
                .await
                .expect("ingest");
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = s
                .list(
                    &listing("acme", 2, cursor.as_deref()),
                    &TenantAccess::All,
                    false,
                )
                .await
                .expect("list");
            seen.extend(page.messages.iter().map(|m| m.content.as_str().to_owned()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);
        assert!(matches!(
            s.list(&listing("globex", 2, None), &only("acme"), false)
                .await,
            Err(CoreError::Forbidden(_))
        ));
    });
}

#[test]
fn an_update_re_embeds_rescores_and_is_recorded() {
    block_on(async {
        let (_, s) = service();
        let m = s
            .ingest(new("acme", "cats are great"), &TenantAccess::All)
            .await
            .expect("ingest");
        let patch = MessagePatch::parse(Some("dogs are great"), None, None, Some(Some(1.0)))
            .expect("valid");
        let actor = Actor::parse("key:abc").expect("valid");
        let updated = s
            .update(m.id, &patch, &actor, None, &TenantAccess::All)
            .await
            .expect("update");
        assert_eq!(updated.content.as_str(), "dogs are great");
        assert_eq!(updated.embedding_status, EmbeddingStatus::Completed);
        assert!(updated.importance_score.value() > m.importance_score.value());
        let stored = s.get(m.id, &TenantAccess::All).await.expect("get");
        assert_ne!(stored.embedding, m.embedding, "the new text's vector");
        let history = s.history(m.id, &TenantAccess::All).await.expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].actor, actor);
        assert_eq!(history[0].changed_fields(), ["content", "importance_score"]);
        // Another tenant's key sees nothing: not found, not forbidden.
        assert!(matches!(
            s.update(m.id, &patch, &actor, None, &only("globex")).await,
            Err(CoreError::NotFound(_))
        ));
        assert!(matches!(
            s.history(m.id, &only("globex")).await,
            Err(CoreError::NotFound(_))
        ));
        assert!(matches!(
            s.delete(m.id, &only("globex")).await,
            Err(CoreError::NotFound(_))
        ));
        s.delete(m.id, &only("acme")).await.expect("delete");
        assert!(matches!(
            s.delete(m.id, &only("acme")).await,
            Err(CoreError::NotFound(_))
        ));
    });
}

#[test]
fn an_update_that_changes_nothing_writes_nothing() {
    block_on(async {
        let (_, s) = service();
        let meta = serde_json::json!({"source": "web"});
        let m = s
            .ingest(
                NewMessage::parse("acme", "c", "user", "same", Some(meta.clone()), None, None)
                    .expect("valid"),
                &TenantAccess::All,
            )
            .await
            .expect("ingest");
        let actor = Actor::anonymous();
        for patch in [
            MessagePatch::parse(Some("same"), None, None, None),
            MessagePatch::parse(None, Some(meta.clone()), Some("merge"), None),
            MessagePatch::parse(Some("same"), Some(meta.clone()), Some("replace"), None),
        ] {
            let patch = patch.expect("valid");
            let answer = s
                .update(m.id, &patch, &actor, None, &TenantAccess::All)
                .await
                .expect("update");
            assert_eq!(answer.updated_at, m.updated_at, "not touched");
            assert_eq!(answer.content, m.content);
        }
        let history = s.history(m.id, &TenantAccess::All).await.expect("history");
        assert!(history.is_empty(), "no change, no entry: {history:?}");
        let stored = s.get(m.id, &TenantAccess::All).await.expect("get");
        assert_eq!(stored.updated_at, m.updated_at);
    });
}

#[test]
fn an_update_that_keeps_losing_the_race_is_a_conflict() {
    block_on(async {
        let inner = Arc::new(InMemoryStore::new(ToyEmbedder::DIM));
        let s0 = MemoryService::new(
            StorePorts::full(inner.clone()),
            Arc::new(ToyEmbedder),
            ServiceConfig::default(),
        )
        .expect("service");
        let m = s0
            .ingest(new("acme", "hello"), &TenantAccess::All)
            .await
            .expect("ingest");
        let mut editing = MockEditing::new();
        // Twice stale, then applied: the service re-reads and recomputes each time.
        let mut calls = 0;
        editing.expect_update().times(3).returning(move |_, _| {
            calls += 1;
            Ok(calls == 3)
        });
        let s = MemoryService::new(
            StorePorts::full(inner.clone()).with_editing(Arc::new(editing)),
            Arc::new(ToyEmbedder),
            ServiceConfig::default(),
        )
        .expect("service");
        let patch = MessagePatch::parse(None, Some(serde_json::json!({"a": 1})), None, None)
            .expect("valid");
        s.update(m.id, &patch, &Actor::anonymous(), None, &TenantAccess::All)
            .await
            .expect("third time");
        let mut always_stale = MockEditing::new();
        always_stale
            .expect_update()
            .times(3)
            .returning(|_, _| Ok(false));
        let s = MemoryService::new(
            StorePorts::full(inner).with_editing(Arc::new(always_stale)),
            Arc::new(ToyEmbedder),
            ServiceConfig::default(),
        )
        .expect("service");
        assert!(matches!(
            s.update(m.id, &patch, &Actor::anonymous(), None, &TenantAccess::All)
                .await,
            Err(CoreError::Conflict(_))
        ));
    });
}

#[test]
fn a_key_replays_its_write_and_refuses_another() {
    block_on(async {
        let (store, s) = service();
        let first = s
            .ingest_keyed(
                new("acme", "once"),
                &TenantAccess::All,
                Some(&key("k", "fp1")),
            )
            .await
            .expect("first");
        let again = s
            .ingest_keyed(
                new("acme", "once"),
                &TenantAccess::All,
                Some(&key("k", "fp1")),
            )
            .await
            .expect("replay");
        assert_eq!(again.id, first.id);
        assert!(matches!(
            s.ingest_keyed(
                new("acme", "other"),
                &TenantAccess::All,
                Some(&key("k", "fp2"))
            )
            .await,
            Err(CoreError::IdempotencyConflict(_))
        ));
        let page = s
            .list(&listing("acme", 10, None), &TenantAccess::All, false)
            .await
            .expect("list");
        assert_eq!(page.messages.len(), 1, "stored once");
        // Expired keys are purged: the default time to live is 24 hours, the record is fresh.
        assert_eq!(s.purge_idempotency().await.expect("purge"), 0);
        drop(store);
    });
}

#[test]
fn losing_the_race_for_a_key_replays_the_winner() {
    block_on(async {
        // The store reports the key taken (a concurrent request committed it first): the
        // service reads the winner's record and answers with its message.
        let inner = Arc::new(InMemoryStore::new(ToyEmbedder::DIM));
        let plain = MemoryService::new(
            StorePorts::full(inner.clone()),
            Arc::new(ToyEmbedder),
            ServiceConfig::default(),
        )
        .expect("service");
        let winner = plain
            .ingest_keyed(
                new("acme", "winner"),
                &TenantAccess::All,
                Some(&key("k", "fp")),
            )
            .await
            .expect("winner");
        let record = inner
            .find_idempotency(&TenantId::parse("acme").expect("valid"), "k")
            .await
            .expect("find")
            .expect("the winner's record");
        let winner_message = inner.get(winner.id).await.expect("get").expect("stored");
        let mut messages = MockMessageStore::new();
        let mut lookups = 0;
        messages.expect_find_idempotency().returning(move |_, _| {
            lookups += 1;
            // The first lookup misses (the winner had not committed yet), the second finds it.
            Ok((lookups > 1).then(|| record.clone()))
        });
        messages.expect_insert_batch().returning(|_, k| {
            Err(RepositoryError::DuplicateKey(
                k.map(|k| k.key).unwrap_or_default(),
            ))
        });
        messages
            .expect_get()
            .returning(move |_| Ok(Some(winner_message.clone())));
        let mut vectors = MockVectorSearch::new();
        vectors.expect_dimension().return_const(ToyEmbedder::DIM);
        let s = MemoryService::new(
            StorePorts::new(Arc::new(messages), Arc::new(vectors)),
            Arc::new(ToyEmbedder),
            ServiceConfig::default(),
        )
        .expect("service");
        let loser = s
            .ingest_keyed(
                new("acme", "winner"),
                &TenantAccess::All,
                Some(&key("k", "fp")),
            )
            .await
            .expect("replayed");
        assert_eq!(loser.id, winner.id);
    });
}

#[test]
fn a_batch_keeps_good_items_and_leaves_what_the_embedder_refuses_pending() {
    block_on(async {
        let store = Arc::new(InMemoryStore::new(ToyEmbedder::DIM));
        let mut embedder = MockEmbedder::new();
        embedder.expect_dimension().return_const(ToyEmbedder::DIM);
        embedder.expect_model_id().return_const("mock".to_owned());
        let mut chunk = 0;
        embedder.expect_embed_for().returning(move |texts, _| {
            chunk += 1;
            if chunk == 1 {
                let mut v = vec![0.0; ToyEmbedder::DIM];
                v[0] = 1.0;
                Ok(texts
                    .iter()
                    .map(|_| Embedding::new(v.clone(), ToyEmbedder::DIM).expect("valid"))
                    .collect())
            } else {
                Err(EmbedderError::overloaded(
                    "full",
                    std::time::Duration::from_secs(1),
                ))
            }
        });
        let s = MemoryService::new(
            StorePorts::full(store),
            Arc::new(embedder),
            ServiceConfig::default(),
        )
        .expect("service");
        let tenant = TenantId::parse("acme").expect("valid");
        let mut items: Vec<_> = (0..100)
            .map(|i| Ok(new("acme", &format!("m{i}"))))
            .collect();
        items[3] = NewMessage::parse("acme", "c", "robot", "x", None, None, None);
        items[7] = Ok(new("globex", "wrong tenant"));
        let out = s
            .ingest_batch(&tenant, items, &TenantAccess::All, None)
            .await
            .expect("batch");
        assert!(!out.replayed);
        assert_eq!(out.items.iter().filter(|i| i.is_err()).count(), 2);
        let stored: Vec<_> = out.items.iter().filter_map(|i| i.as_ref().ok()).collect();
        assert_eq!(stored.len(), 98);
        // The first chunk of 64 valid texts was embedded; the embedder refused the second.
        assert_eq!(
            stored
                .iter()
                .filter(|m| m.embedding_status == EmbeddingStatus::Completed)
                .count(),
            64
        );
        assert_eq!(
            stored
                .iter()
                .filter(|m| m.embedding_status == EmbeddingStatus::Pending)
                .count(),
            34
        );
        assert!(matches!(
            s.ingest_batch(&tenant, Vec::new(), &TenantAccess::All, None)
                .await,
            Err(CoreError::Validation(_))
        ));
        assert!(matches!(
            s.ingest_batch(&tenant, vec![Ok(new("acme", "x"))], &only("globex"), None)
                .await,
            Err(CoreError::Forbidden(_))
        ));
    });
}

#[test]
fn a_batch_embeds_shortest_first_and_each_item_keeps_its_own_vector() {
    block_on(async {
        let (store, s) = service();
        let tenant = TenantId::parse("acme").expect("valid");
        // Lengths out of order, across several chunks of the embedder's calls.
        let texts: Vec<String> = (0..150)
            .map(|i| format!("{} {}", "word ".repeat((i * 37) % 23), i))
            .collect();
        let items = texts.iter().map(|t| Ok(new("acme", t))).collect();
        let out = s
            .ingest_batch(&tenant, items, &TenantAccess::All, None)
            .await
            .expect("batch");
        for (item, text) in out.items.iter().zip(&texts) {
            let stored = store
                .get(item.as_ref().expect("stored").id)
                .await
                .expect("get")
                .expect("there");
            assert_eq!(stored.content.as_str(), text.as_str());
            let own = ToyEmbedder
                .embed(std::slice::from_ref(text))
                .await
                .expect("embed");
            assert_eq!(stored.embedding.as_ref(), Some(&own[0]), "{text}");
        }
    });
}

#[test]
fn a_store_without_the_capabilities_says_so() {
    block_on(async {
        let store = Arc::new(InMemoryStore::new(ToyEmbedder::DIM));
        let s = MemoryService::new(
            StorePorts::new(store.clone(), store),
            Arc::new(ToyEmbedder),
            ServiceConfig::default(),
        )
        .expect("service");
        let m = s
            .ingest(new("acme", "hi"), &TenantAccess::All)
            .await
            .expect("ingest");
        assert!(matches!(
            s.list(&listing("acme", 10, None), &TenantAccess::All, false)
                .await,
            Err(CoreError::Unsupported(_))
        ));
        assert!(matches!(
            s.delete(m.id, &TenantAccess::All).await,
            Err(CoreError::Unsupported(_))
        ));
        assert!(matches!(
            s.history(m.id, &TenantAccess::All).await,
            Err(CoreError::Unsupported(_))
        ));
    });
}

#[test]
fn an_import_keeps_what_it_is_given_and_replays() {
    block_on(async {
        let (_, source) = service();
        source
            .ingest(new("acme", "one"), &TenantAccess::All)
            .await
            .expect("ingest");
        source
            .ingest(new("acme", "two"), &TenantAccess::All)
            .await
            .expect("ingest");
        let exported = source
            .list(&listing("acme", 10, None), &TenantAccess::All, true)
            .await
            .expect("list")
            .messages;
        let (_, target) = service();
        let k = key("import-1", "fp");
        let first = target
            .import(exported.clone(), Some(&k))
            .await
            .expect("import");
        assert_eq!((first.stored, first.skipped), (2, 0));
        let again = target
            .import(exported.clone(), Some(&k))
            .await
            .expect("replay");
        assert_eq!((again.stored, again.skipped), (0, 2));
        let without_key = target
            .import(exported.clone(), None)
            .await
            .expect("existing ids");
        assert_eq!((without_key.stored, without_key.skipped), (0, 2));
        let copied = target
            .list(&listing("acme", 10, None), &TenantAccess::All, true)
            .await
            .expect("list")
            .messages;
        assert_eq!(copied, exported, "every field, the embeddings included");
    });
}

/// A clock that moves only when the model works: each embedder call takes two seconds.
struct StepClock(std::sync::atomic::AtomicI64);

impl memory_core::ports::Clock for StepClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let secs = self.0.load(std::sync::atomic::Ordering::SeqCst);
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid time")
    }
}

struct SlowToy(Arc<StepClock>);

#[async_trait::async_trait]
impl memory_core::ports::Embedder for SlowToy {
    fn model_id(&self) -> String {
        ToyEmbedder.model_id()
    }
    fn dimension(&self) -> usize {
        ToyEmbedder::DIM
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        self.0.0.fetch_add(2, std::sync::atomic::Ordering::SeqCst);
        ToyEmbedder.embed(texts).await
    }
}

#[test]
fn a_batch_stops_embedding_at_its_budget_and_stores_the_rest_pending() {
    block_on(async {
        let clock = Arc::new(StepClock(std::sync::atomic::AtomicI64::new(0)));
        let tenant = TenantId::parse("acme").expect("valid");
        // 300 messages through a service on the step clock, with or without a budget.
        let batch = async |store: Arc<InMemoryStore>, budget| {
            let config = ServiceConfig {
                batch_embed_budget: budget,
                ..ServiceConfig::default()
            };
            let s = MemoryService::new(
                StorePorts::full(store),
                Arc::new(SlowToy(clock.clone())),
                config,
            )
            .expect("service")
            .with_clock(clock.clone());
            let items = (0..300)
                .map(|i| Ok(new("acme", &format!("m{i}"))))
                .collect();
            let out = s
                .ingest_batch(&tenant, items, &TenantAccess::All, None)
                .await
                .expect("batch");
            move |wanted| {
                out.items
                    .iter()
                    .filter(|i| i.as_ref().expect("stored").embedding_status == wanted)
                    .count()
            }
        };
        let store = Arc::new(InMemoryStore::new(ToyEmbedder::DIM));
        let status = batch(store.clone(), Some(chrono::Duration::seconds(5))).await;
        // Chunks of 64 taking 2 s each against 5 s: the first two end at 2 s and 4 s; a third
        // would end at 6 s, so it and the rest are left for the catch-up worker.
        assert_eq!(status(EmbeddingStatus::Completed), 128);
        assert_eq!(status(EmbeddingStatus::Pending), 172);
        assert_eq!(
            store.pending_embeddings(1000).await.expect("pending").len(),
            172
        );
        // Without a budget the same slow model embeds all of it.
        let status = batch(Arc::new(InMemoryStore::new(ToyEmbedder::DIM)), None).await;
        assert_eq!(status(EmbeddingStatus::Completed), 300);
    });
}
