//! MemoryService against mockall mocks of its ports: the orchestration rules.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use memory_core::access::TenantAccess;
use memory_core::domain::{ConversationId, MinRelevance, SearchMode};
use memory_core::domain::{Embedding, EmbeddingStatus, Message, NewMessage, SearchQuery, TenantId};
use memory_core::error::{CoreError, EmbedderError, RepositoryError};
use memory_core::mocks::{
    MockClock, MockEmbedder, MockErasure, MockLexicalSearch, MockMessageStore, MockRetentionStore,
    MockTimeline, MockVectorSearch,
};
use memory_core::ports::{
    Candidate, CandidateQuery, EmbedPurpose, Embedder, EmbeddingUpdate, LexicalDocument,
    LexicalMatches, LexicalQuery, MessageRecord, StorePorts,
};
use memory_core::retention::{ArchiveRule, RetentionPolicy, RetentionRequest};
use memory_core::scoring::HybridConfig;
use memory_core::testkit::{Fixture, basis, tilted};
use memory_core::text::Analyzer;
use memory_core::{MemoryService, ServiceConfig};
use mockall::Sequence;
use mockall::predicate::eq;

const DIM: usize = 4;

/// The store's capabilities as separate mocks, bundled the way a real store's are.
struct MockStore {
    messages: MockMessageStore,
    vectors: MockVectorSearch,
    lexical: MockLexicalSearch,
    retention: MockRetentionStore,
    erasure: MockErasure,
    timeline: MockTimeline,
}

impl Default for MockStore {
    fn default() -> Self {
        let mut vectors = MockVectorSearch::new();
        vectors.expect_dimension().return_const(DIM);
        Self {
            messages: MockMessageStore::new(),
            vectors,
            lexical: MockLexicalSearch::new(),
            retention: MockRetentionStore::new(),
            erasure: MockErasure::new(),
            timeline: MockTimeline::new(),
        }
    }
}

impl MockStore {
    fn into_ports(self) -> StorePorts {
        StorePorts::new(Arc::new(self.messages), Arc::new(self.vectors))
            .with_lexical(Arc::new(self.lexical))
            .with_retention(Arc::new(self.retention))
            .with_erasure(Arc::new(self.erasure))
            .with_timeline(Arc::new(self.timeline))
    }
}

/// A predicate on the inserted record's message.
fn on_message(
    f: impl Fn(&Message) -> bool + Send + 'static,
) -> impl Fn(&MessageRecord) -> bool + Send + 'static {
    move |r| f(&r.message)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 14, 20, 30, 0)
        .single()
        .expect("valid")
}

fn clock() -> MockClock {
    let mut c = MockClock::new();
    c.expect_now().returning(now);
    c
}

fn embedder_returning(e: Embedding) -> MockEmbedder {
    let mut m = MockEmbedder::new();
    m.expect_dimension().return_const(DIM);
    m.expect_embed_for()
        .returning(move |texts, _| Ok(texts.iter().map(|_| e.clone()).collect()));
    m
}

fn service_with(store: MockStore, embedder: MockEmbedder, config: ServiceConfig) -> MemoryService {
    MemoryService::new(store.into_ports(), Arc::new(embedder), config)
        .expect("dimensions agree")
        .with_clock(Arc::new(clock()))
}

fn service(store: MockStore, embedder: MockEmbedder) -> MemoryService {
    service_with(store, embedder, ServiceConfig::default())
}

fn analysed(m: &Message) -> String {
    Analyzer::english()
        .analyze(m.content.as_str())
        .terms()
        .to_owned()
}

fn new_message(tenant: &str) -> NewMessage {
    NewMessage::parse(tenant, "conv-1", "user", "I love Python", None, None, None).expect("valid")
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

#[test]
fn ingest_embeds_then_stores_the_message_with_its_embedding_in_one_write() {
    let mut seq = Sequence::new();
    let mut store = MockStore::default();
    let mut embedder = MockEmbedder::new();
    embedder.expect_dimension().return_const(DIM);
    embedder
        .expect_embed_for()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|t, purpose| {
            assert_eq!(t, ["I love Python".to_owned()]);
            // A write's texts go in its tenant's ingest turn.
            assert_eq!(
                *purpose,
                EmbedPurpose::Ingest(TenantId::parse("acme").expect("valid"))
            );
            Ok(vec![basis(DIM, 0)])
        });
    store
        .messages
        .expect_insert()
        .times(1)
        .in_sequence(&mut seq)
        .withf(on_message(|m: &Message| {
            m.embedding_status == EmbeddingStatus::Completed
                && m.embedding == Some(basis(DIM, 0))
                && m.created_at == now()
        }))
        .returning(|_| Ok(()));
    store.messages.expect_set_embedding().never();
    let m = run(service(store, embedder).ingest(new_message("acme"), &TenantAccess::All))
        .expect("ingested");
    assert_eq!(m.embedding_status, EmbeddingStatus::Completed);
    assert!(
        (m.importance_score.value() - 0.74).abs() < 1e-9,
        "fresh user message, no override"
    );
}

/// The embedder unavailable, overloaded or too slow: the message is stored `pending` (the
/// worker embeds it later); the model failing on the text: stored `failed`. Either way the
/// message is acknowledged.
#[test]
fn embedder_trouble_still_stores_the_message() {
    for (error, status) in [
        (
            EmbedderError::overloaded("queue full", std::time::Duration::from_secs(1)),
            EmbeddingStatus::Pending,
        ),
        (
            EmbedderError::unavailable("no embedding within 7500 ms"),
            EmbeddingStatus::Pending,
        ),
        (
            EmbedderError::failed("token limit"),
            EmbeddingStatus::Failed,
        ),
    ] {
        let mut store = MockStore::default();
        store
            .messages
            .expect_insert()
            .times(1)
            .withf(on_message(move |m: &Message| {
                m.embedding_status == status && m.embedding.is_none()
            }))
            .returning(|_| Ok(()));
        store.messages.expect_set_embedding().never();
        let mut embedder = MockEmbedder::new();
        embedder.expect_dimension().return_const(DIM);
        embedder
            .expect_embed_for()
            .return_once(move |_, _| Err(error));
        let m = run(service(store, embedder).ingest(new_message("acme"), &TenantAccess::All))
            .expect("still acknowledged");
        assert_eq!(m.embedding_status, status);
    }
}

#[test]
fn a_failed_insert_is_an_error() {
    let mut store = MockStore::default();
    store
        .messages
        .expect_insert()
        .returning(|_| Err(RepositoryError::unavailable("down")));
    let e = run(service(store, embedder_returning(basis(DIM, 0)))
        .ingest(new_message("acme"), &TenantAccess::All))
    .expect_err("not stored");
    assert!(matches!(
        e,
        CoreError::Repository(RepositoryError::Unavailable { .. })
    ));
}

#[test]
fn created_at_may_be_backdated_but_not_future_dated() {
    let mut store = MockStore::default();
    let old = now() - Duration::days(60);
    store
        .messages
        .expect_insert()
        .times(1)
        .withf(on_message(move |m: &Message| {
            m.created_at == old && m.updated_at == now()
        }))
        .returning(|_| Ok(()));
    let svc = service(store, embedder_returning(basis(DIM, 0)));
    let dated = |at| {
        NewMessage::parse(
            "acme",
            "conv-1",
            "user",
            "I love Python",
            None,
            None,
            Some(at),
        )
        .expect("valid")
    };
    let m = run(svc.ingest(dated(old), &TenantAccess::All)).expect("backdated");
    // 60 days old user message: recency ~0, so 0.2*0.7 + 0.4*0.5 plus a tiny recency part.
    assert!((m.importance_score.value() - 0.34).abs() < 1e-3);
    match run(svc.ingest(dated(now() + Duration::hours(1)), &TenantAccess::All)) {
        Err(CoreError::Validation(e)) => assert_eq!(e.0[0].field, "created_at"),
        other => panic!("future created_at must be rejected, got {other:?}"),
    }
}

#[test]
fn a_key_bound_to_other_tenants_can_neither_write_nor_search_nor_read() {
    let access = TenantAccess::Only([TenantId::parse("globex").expect("valid")].into());
    let mut store = MockStore::default();
    store.messages.expect_insert().never();
    store.vectors.expect_search_candidates().never();
    let foreign = Fixture::new("acme", "c", DIM).build();
    let id = foreign.id;
    store
        .messages
        .expect_get()
        .with(eq(id))
        .returning(move |_| Ok(Some(foreign.clone())));
    let svc = service(store, embedder_returning(basis(DIM, 0)));
    assert!(matches!(
        run(svc.ingest(new_message("acme"), &access)),
        Err(CoreError::Forbidden(_))
    ));
    let q = SearchQuery::parse("acme", "x", None, None, None, None).expect("valid");
    assert!(matches!(
        run(svc.search(q, &access)),
        Err(CoreError::Forbidden(_))
    ));
    assert!(
        matches!(run(svc.get(id, &access)), Err(CoreError::NotFound(_))),
        "another tenant's id reads as not found"
    );
    let r = RetentionRequest::parse("acme", &["archive".into()], true).expect("valid");
    assert!(matches!(
        run(svc.run_retention(r, &access)),
        Err(CoreError::Forbidden(_))
    ));
}

#[test]
fn search_passes_the_scope_and_ranks_the_candidates() {
    let mut store = MockStore::default();
    let close_old = Fixture::new("acme", "c1", DIM)
        .embedded(tilted(DIM, 0.1))
        .importance(0.2)
        .created(now() - Duration::days(70))
        .build();
    let far_new = Fixture::new("acme", "c1", DIM)
        .embedded(tilted(DIM, 1.0))
        .importance(0.9)
        .created(now())
        .build();
    let exact = Fixture::new("acme", "c1", DIM)
        .embedded(basis(DIM, 0))
        .importance(0.5)
        .created(now() - Duration::days(7))
        .build();
    let cands: Vec<Candidate> = [(&close_old, 0.1f64), (&far_new, 1.0), (&exact, 0.0)]
        .into_iter()
        .map(|(m, a)| Candidate {
            message: m.clone(),
            similarity: a.cos(),
        })
        .collect();
    store
        .vectors
        .expect_search_candidates()
        .times(1)
        .withf(|q: &CandidateQuery| {
            q.tenant_id.as_str() == "acme"
                && q.conversation_id.as_ref().map(|c| c.as_str()) == Some("c1")
                && q.limit == 50
                && q.importance_min.map(|i| i.value()) == Some(0.1)
                && q.embedding == basis(DIM, 0)
        })
        .return_once(move |_| Ok(cands));
    store
        .messages
        .expect_count_pending()
        .times(1)
        .withf(|t, c| {
            t.as_ref().map(|t| t.as_str()) == Some("acme")
                && c.as_ref().map(|c| c.as_str()) == Some("c1")
        })
        .returning(|_, _| Ok(3));
    store.lexical.expect_lexical_candidates().never();
    let mut embedder = MockEmbedder::new();
    embedder.expect_dimension().return_const(DIM);
    embedder
        .expect_embed_for()
        .withf(|_, purpose| *purpose == EmbedPurpose::Query)
        .returning(|t, _| Ok(t.iter().map(|_| basis(DIM, 0)).collect()));
    let svc = service(store, embedder);
    let q = SearchQuery::parse("acme", "Python", Some("c1"), Some(2), Some(0.1), Some(50))
        .expect("valid")
        .with_mode(SearchMode::Vector);
    let results = run(svc.search(q, &TenantAccess::All)).expect("search");
    assert_eq!(
        (results.mode, results.pending_embeddings),
        (SearchMode::Vector, 3)
    );
    let hits = results.items;
    assert_eq!(hits.len(), 2, "top_k");
    // exact: 0.6*1 + 0.3*0.5 + 0.1*e^-1 = 0.7868; close_old: 0.6*cos(0.1) + 0.06 + 0.1*e^-10 = 0.657;
    // far_new: 0.6*cos(1) + 0.27 + 0.1 = 0.694.
    assert_eq!(hits[0].message.id, exact.id);
    assert!((hits[0].score - (0.6 + 0.15 + 0.1 * (-1.0f64).exp())).abs() < 1e-9);
    assert!((hits[0].decay - (-1.0f64).exp()).abs() < 1e-9);
    assert_eq!(hits[1].message.id, far_new.id);
    assert!((hits[1].similarity - 1.0f64.cos()).abs() < 1e-9);
    assert!(
        hits.iter().all(|h| h.message.embedding.is_none()),
        "responses carry no vectors"
    );
}

#[test]
fn retention_uses_the_tenant_policy_and_reports_counts() {
    let mut store = MockStore::default();
    let policy = RetentionPolicy::new(10, 0.2, 30).expect("valid");
    let p = policy.clone();
    store
        .retention
        .expect_get_policy()
        .returning(move |_| Ok(Some(p.clone())));
    store
        .retention
        .expect_archive()
        .times(1)
        .withf(|t, rule: &ArchiveRule, at, dry| {
            t.as_str() == "acme"
                && rule.created_before == now() - Duration::days(10)
                && (rule.importance_below.value() - 0.2).abs() < 1e-12
                && *at == now()
                && *dry
        })
        .returning(|_, _, _, _| Ok(42));
    store
        .retention
        .expect_purge_archived()
        .times(1)
        .withf(|_, before, dry| *before == now() - Duration::days(30) && *dry)
        .returning(|_, _, _| Ok(10));
    let svc = service(store, embedder_returning(basis(DIM, 0)));
    let r =
        RetentionRequest::parse("acme", &["archive".into(), "delete".into()], true).expect("valid");
    let report = run(svc.run_retention(r, &TenantAccess::All)).expect("report");
    assert_eq!(
        (report.archived, report.deleted, report.dry_run),
        (42, 10, true)
    );
}

#[test]
fn retention_falls_back_to_the_default_policy_and_runs_only_the_asked_actions() {
    let mut store = MockStore::default();
    store.retention.expect_get_policy().returning(|_| Ok(None));
    store.retention.expect_archive().never();
    store
        .retention
        .expect_purge_archived()
        .times(1)
        .withf(|_, before, dry| *before == now() - Duration::days(90) && !*dry)
        .returning(|_, _, _| Ok(3));
    let svc = service(store, embedder_returning(basis(DIM, 0)));
    let r = RetentionRequest::parse("acme", &["delete".into()], false).expect("valid");
    let report = run(svc.run_retention(r, &TenantAccess::All)).expect("report");
    assert_eq!((report.archived, report.deleted), (0, 3));
}

#[test]
fn embed_pending_batches_the_backlog() {
    let mut store = MockStore::default();
    let a = Fixture::new("t", "c", DIM).content("one").build();
    let b = Fixture::new("t", "c", DIM).content("two").build();
    let backlog = vec![a.clone(), b.clone()];
    store
        .messages
        .expect_claim_pending()
        .with(eq(16), eq(memory_core::service::CLAIM))
        .return_once(move |_, _| Ok(backlog));
    store
        .messages
        .expect_set_embedding()
        .times(2)
        .returning(|_, u, _, _| {
            assert!(matches!(u, EmbeddingUpdate::Completed(_)));
            Ok(true)
        });
    let mut embedder = MockEmbedder::new();
    embedder.expect_dimension().return_const(DIM);
    embedder
        .expect_embed_for()
        .times(1)
        .returning(|t, purpose| {
            assert_eq!(
                *purpose,
                EmbedPurpose::Backlog,
                "the catch-up is served last"
            );
            assert_eq!(
                t,
                ["one".to_owned(), "two".to_owned()],
                "one batch, oldest first"
            );
            Ok(vec![basis(DIM, 0), basis(DIM, 1)])
        });
    assert_eq!(
        run(service(store, embedder).embed_pending(16)).expect("embedded"),
        2
    );
}

/// One text the model cannot take does not hold back the backlog: the failed batch is
/// retried one message at a time, the bad one is marked failed, the others complete. An
/// unavailable embedder fails the round without touching any message.
#[test]
fn a_poison_text_does_not_block_the_backlog() {
    let mut store = MockStore::default();
    let good = Fixture::new("t", "c", DIM).content("fine").build();
    let bad = Fixture::new("t", "c", DIM).content("poison").build();
    let later = Fixture::new("t", "c", DIM).content("also fine").build();
    let backlog = vec![bad.clone(), good.clone(), later.clone()];
    store
        .messages
        .expect_claim_pending()
        .return_once(move |_, _| Ok(backlog));
    let (bad_id, good_ids) = (bad.id, [good.id, later.id]);
    store
        .messages
        .expect_set_embedding()
        .times(3)
        .returning(move |id, u, _, _| {
            if id == bad_id {
                assert_eq!(u, EmbeddingUpdate::Failed);
            } else {
                assert!(good_ids.contains(&id));
                assert!(matches!(u, EmbeddingUpdate::Completed(_)));
            }
            Ok(true)
        });
    let mut embedder = MockEmbedder::new();
    embedder.expect_dimension().return_const(DIM);
    embedder.expect_embed_for().times(4).returning(|t, _| {
        if t.iter().any(|s| s == "poison") {
            Err(EmbedderError::failed("token limit"))
        } else {
            Ok(t.iter().map(|_| basis(DIM, 0)).collect())
        }
    });
    assert_eq!(
        run(service(store, embedder).embed_pending(16)).expect("round"),
        2
    );

    let mut store = MockStore::default();
    let backlog = vec![good.clone(), later.clone()];
    store
        .messages
        .expect_claim_pending()
        .return_once(move |_, _| Ok(backlog));
    store.messages.expect_set_embedding().never();
    let mut embedder = MockEmbedder::new();
    embedder.expect_dimension().return_const(DIM);
    embedder
        .expect_embed_for()
        .times(1)
        .returning(|_, _| Err(EmbedderError::unavailable("down")));
    assert!(matches!(
        run(service(store, embedder).embed_pending(16)),
        Err(CoreError::Embedder(EmbedderError::Unavailable { .. }))
    ));
}

#[test]
fn wrong_sized_embeddings_are_failures_not_panics() {
    let mut store = MockStore::default();
    store
        .messages
        .expect_insert()
        .withf(on_message(|m: &Message| {
            m.embedding_status == EmbeddingStatus::Failed
        }))
        .returning(|_| Ok(()));
    let mut embedder = MockEmbedder::new();
    embedder.expect_dimension().return_const(DIM);
    embedder.expect_embed_for().returning(|_, _| Ok(vec![]));
    let m = run(service(store, embedder).ingest(new_message("acme"), &TenantAccess::All))
        .expect("acknowledged");
    assert_eq!(m.embedding_status, EmbeddingStatus::Failed);
}

#[test]
fn ports_work_behind_arc_dyn() {
    let e: Arc<dyn Embedder> = Arc::new(embedder_returning(basis(DIM, 2)));
    assert_eq!(
        run(e.embed_for(&["x".into()], &memory_core::ports::EmbedPurpose::Query)).expect("embed")
            [0],
        basis(DIM, 2)
    );
}

#[test]
fn an_embedder_that_does_not_fit_the_store_is_refused() {
    let mut embedder = MockEmbedder::new();
    embedder.expect_dimension().return_const(DIM + 1);
    let r = MemoryService::new(
        MockStore::default().into_ports(),
        Arc::new(embedder),
        ServiceConfig::default(),
    );
    match r {
        Err(CoreError::DimensionMismatch { store, embedder }) => {
            assert_eq!((store, embedder), (DIM, DIM + 1));
        }
        other => panic!("expected a dimension mismatch, got {other:?}"),
    }
}

/// A conversation-scoped hybrid search reads the conversation's time line and smooths over
/// true neighbours: of two candidates equal in every other way, the one next to the lexical
/// match in the conversation ranks first, though the other is next to it among the candidates.
/// A time line the store cannot read fails the search (no silent change of ranking).
#[test]
fn conversation_scoped_hybrid_search_smooths_over_the_time_line() {
    // Two hours apart: each turn is a session of its own, so only the time line links them.
    let at = |s: i64| now() - Duration::hours(48) + Duration::hours(2 * s);
    let turn = |text: &str, s: i64| {
        Fixture::new("acme", "c1", DIM)
            .content(text)
            .embedded(tilted(DIM, 1.0))
            .created(at(s))
            .build()
    };
    let hit = turn("the wedding is in Porto", 0);
    let close = turn("sounds lovely", 2);
    let far = turn("sounds great", 9);
    let line: Vec<_> = (1..12)
        .map(|s| match s {
            2 => close.id,
            9 => far.id,
            _ => turn("filler", s).id,
        })
        .collect();
    let line = [vec![hit.id], line].concat();
    let make = |timeline: Result<Option<Vec<memory_core::domain::MessageId>>, RepositoryError>| {
        let mut store = MockStore::default();
        // All three as dissimilar as chance: only the hit's words make it relevant.
        let dense: Vec<Candidate> = [&hit, &close, &far]
            .iter()
            .map(|m| Candidate {
                message: (*m).clone(),
                similarity: 0.2,
            })
            .collect();
        store
            .vectors
            .expect_search_candidates()
            .return_once(move |_| Ok(dense));
        let doc = hit.clone();
        store
            .lexical
            .expect_lexical_candidates()
            .return_once(move |_| {
                Ok(LexicalMatches {
                    scope_size: 12,
                    average_length: 2.0,
                    document_frequencies: vec![1, 1],
                    documents: vec![LexicalDocument {
                        terms: analysed(&doc),
                        message: doc,
                    }],
                })
            });
        store
            .timeline
            .expect_conversation_timeline()
            .times(1)
            .withf(|t, c, l| t.as_str() == "acme" && c.as_str() == "c1" && *l == 10_000)
            .return_once(move |_, _, _| timeline);
        store
            .messages
            .expect_count_pending()
            .returning(|_, _| Ok(0));
        service(store, embedder_returning(basis(DIM, 0)))
    };
    let q = SearchQuery::parse("acme", "wedding in Porto", Some("c1"), Some(3), None, None)
        .expect("valid");

    let everything = q.clone().with_min_relevance(MinRelevance::NONE);
    let results =
        run(make(Ok(Some(line.clone()))).search(everything, &TenantAccess::All)).expect("search");
    let ids: Vec<_> = results.items.iter().map(|h| h.message.id).collect();
    assert_eq!(ids, [hit.id, close.id, far.id], "{:?}", results.items);
    assert!(results.items[1].score > results.items[2].score);
    // close and far are equally (ir)relevant on their own; at the default threshold far is
    // dropped, close stays: it is next to the hit in the conversation.
    assert_eq!(results.items[1].relevance, results.items[2].relevance);
    assert!(results.items[2].relevance < MinRelevance::DEFAULT.value());
    let results = run(make(Ok(Some(line))).search(q.clone(), &TenantAccess::All)).expect("search");
    let ids: Vec<_> = results.items.iter().map(|h| h.message.id).collect();
    assert_eq!(ids, [hit.id, close.id], "{:?}", results.items);
    assert_eq!(
        (results.min_relevance, results.below_min_relevance),
        (MinRelevance::DEFAULT.value(), 1)
    );

    let r = run(make(Err(RepositoryError::unavailable("down"))).search(q, &TenantAccess::All));
    assert!(
        matches!(
            r,
            Err(CoreError::Repository(RepositoryError::Unavailable { .. }))
        ),
        "{r:?}"
    );
}

/// Lexical mode never embeds the query; a hybrid search whose embedder is down or saturated
/// degrades to lexical mode and says so; vector mode has nothing to fall back on.
#[test]
fn lexical_mode_and_the_hybrid_fallback_need_no_embedder() {
    let hit = Fixture::new("acme", "c1", DIM)
        .content("the wedding is in Porto")
        .embedded(basis(DIM, 0))
        .build();
    let make = |embed: Option<EmbedderError>, mode: Option<SearchMode>| {
        let mut store = MockStore::default();
        let doc = hit.clone();
        store
            .lexical
            .expect_lexical_candidates()
            .return_once(move |_| {
                Ok(LexicalMatches {
                    scope_size: 1,
                    average_length: 3.0,
                    document_frequencies: vec![1, 1],
                    documents: vec![LexicalDocument {
                        terms: analysed(&doc),
                        message: doc,
                    }],
                })
            });
        store.vectors.expect_search_candidates().never();
        store
            .messages
            .expect_count_pending()
            .returning(|_, _| Ok(2));
        let mut embedder = MockEmbedder::new();
        embedder.expect_dimension().return_const(DIM);
        match embed {
            None => {
                embedder.expect_embed_for().never();
            }
            Some(e) => {
                embedder
                    .expect_embed_for()
                    .times(1)
                    .return_once(move |_, _| Err(e));
            }
        }
        let q =
            SearchQuery::parse("acme", "Porto wedding", None, Some(3), None, None).expect("valid");
        let q = match mode {
            Some(m) => q.with_mode(m),
            None => q,
        };
        run(service(store, embedder).search(q, &TenantAccess::All))
    };
    for (embed, mode) in [
        (None, Some(SearchMode::Lexical)),
        (Some(EmbedderError::unavailable("down")), None),
        (
            Some(EmbedderError::overloaded(
                "queue full",
                std::time::Duration::from_secs(1),
            )),
            Some(SearchMode::Hybrid),
        ),
    ] {
        let results = make(embed, mode).expect("lexical results");
        assert_eq!(results.mode, SearchMode::Lexical);
        assert_eq!(results.pending_embeddings, 2);
        assert_eq!(results.items.len(), 1);
        let top = &results.items[0];
        assert_eq!(top.message.id, hit.id);
        assert_eq!(
            (top.similarity, top.lexical, top.relevance),
            (0.0, Some(1.0), 1.0)
        );
    }
    // A query the model fails on is an error in hybrid mode too (not a silent fallback), and
    // vector mode has no fallback.
    let mut store = MockStore::default();
    store.messages.expect_count_pending().never();
    let mut embedder = MockEmbedder::new();
    embedder.expect_dimension().return_const(DIM);
    embedder
        .expect_embed_for()
        .returning(|_, _| Err(EmbedderError::unavailable("down")));
    let svc = service(store, embedder);
    let q = SearchQuery::parse("acme", "Porto", None, None, None, None)
        .expect("valid")
        .with_mode(SearchMode::Vector);
    assert!(matches!(
        run(svc.search(q, &TenantAccess::All)),
        Err(CoreError::Embedder(EmbedderError::Unavailable { .. }))
    ));
}

#[test]
fn hybrid_search_fuses_lexical_matches_with_neighbours() {
    let mut store = MockStore::default();
    // A dense neighbour that says nothing about the query's words, and a lexical match that
    // is not among the neighbours (a pending message, never embedded).
    let neighbour = Fixture::new("acme", "c1", DIM)
        .content("I enjoy outdoor sports")
        .embedded(tilted(DIM, 0.3))
        .build();
    let weak = Fixture::new("acme", "c1", DIM)
        .content("Lunch was fine")
        .embedded(tilted(DIM, 1.2))
        .build();
    let lexical_only = Fixture::new("acme", "c1", DIM)
        .content("Caroline went to the LGBTQ support group")
        .build();
    let dense = vec![
        Candidate {
            message: neighbour.clone(),
            similarity: 0.3f64.cos(),
        },
        Candidate {
            message: weak.clone(),
            similarity: 1.2f64.cos(),
        },
    ];
    store
        .vectors
        .expect_search_candidates()
        .return_once(move |_| Ok(dense));
    let doc = lexical_only.clone();
    store
        .lexical
        .expect_lexical_candidates()
        .times(1)
        .withf(|q: &LexicalQuery| {
            q.tenant_id.as_str() == "acme"
                && q.terms == ["carolin", "go", "lgbtq", "support", "group"]
        })
        .return_once(move |_| {
            Ok(LexicalMatches {
                scope_size: 3,
                average_length: 3.0,
                document_frequencies: vec![1, 1, 1, 1, 1],
                documents: vec![LexicalDocument {
                    terms: analysed(&doc),
                    message: doc,
                }],
            })
        });
    store
        .messages
        .expect_count_pending()
        .returning(|_, _| Ok(1));
    let config = ServiceConfig {
        hybrid: HybridConfig::default()
            .with_lexical_weight(0.7)
            .expect("valid"),
        ..ServiceConfig::default()
    };
    let svc = service_with(store, embedder_returning(basis(DIM, 0)), config);
    let q = SearchQuery::parse(
        "acme",
        "When did Caroline go to the LGBTQ support group?",
        None,
        Some(3),
        None,
        None,
    )
    .expect("valid");
    let results = run(svc.search(q, &TenantAccess::All)).expect("search");
    assert_eq!(results.mode, SearchMode::Hybrid, "hybrid is the default");
    assert_eq!(results.pending_embeddings, 1);
    let ids: Vec<_> = results.items.iter().map(|h| h.message.id).collect();
    assert_eq!(
        ids[0], lexical_only.id,
        "the only lexical match wins: {:?}",
        results.items
    );
    let top = &results.items[0];
    // "went" is not "go": four of the five query terms, all equally rare.
    assert!((top.lexical.expect("hybrid") - 0.8).abs() < 1e-12);
    assert_eq!(
        top.relevance,
        top.lexical.expect("hybrid"),
        "not embedded: its words are all the evidence"
    );
    assert_eq!(top.similarity, 0.0, "no embedding yet");
    assert!(results.items.iter().all(|h| h.lexical.is_some()));
    // The best candidate's fused order is 1.
    assert!((top.score - (0.6 + 0.3 * top.importance + 0.1 * top.decay)).abs() < 1e-12);
}

#[test]
fn hybrid_search_with_only_stopwords_skips_the_lexical_query() {
    let mut store = MockStore::default();
    let m = Fixture::new("acme", "c1", DIM)
        .embedded(basis(DIM, 0))
        .build();
    store
        .vectors
        .expect_search_candidates()
        .return_once(move |_| {
            Ok(vec![Candidate {
                message: m,
                similarity: 1.0,
            }])
        });
    store.lexical.expect_lexical_candidates().never();
    store
        .messages
        .expect_count_pending()
        .returning(|_, _| Ok(0));
    let svc = service(store, embedder_returning(basis(DIM, 0)));
    let q = SearchQuery::parse("acme", "what is it?", None, None, None, None).expect("valid");
    let results = run(svc.search(q, &TenantAccess::All)).expect("search");
    assert_eq!(results.items.len(), 1);
}

#[test]
fn erasure_is_for_admin_keys_and_scoped_to_the_tenant() {
    let mut store = MockStore::default();
    store
        .erasure
        .expect_delete_conversation()
        .times(1)
        .withf(|t, c| t.as_str() == "acme" && c.as_str() == "c1")
        .returning(|_, _| Ok(4));
    store
        .erasure
        .expect_delete_tenant()
        .times(1)
        .withf(|t| t.as_str() == "acme")
        .returning(|_| Ok(9));
    let svc = service(store, embedder_returning(basis(DIM, 0)));
    let acme = TenantId::parse("acme").expect("valid");
    let c1 = ConversationId::parse("c1").expect("valid");
    assert_eq!(
        run(svc.erase_conversation(&acme, &c1, &TenantAccess::All)).expect("erased"),
        4
    );
    assert_eq!(
        run(svc.erase_tenant(&acme, &TenantAccess::All)).expect("erased"),
        9
    );
    let bound = TenantAccess::Only([acme.clone()].into());
    assert!(
        matches!(
            run(svc.erase_conversation(&acme, &c1, &bound)),
            Err(CoreError::Forbidden(_))
        ),
        "even its own tenant: admin only"
    );
    assert!(matches!(
        run(svc.erase_tenant(&acme, &bound)),
        Err(CoreError::Forbidden(_))
    ));
}
