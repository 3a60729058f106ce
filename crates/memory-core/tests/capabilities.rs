//! The service over real in-memory ports: what it does when a store lacks a capability, the
//! analysed-text backfill, and the port observer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use memory_core::access::TenantAccess;
use memory_core::domain::{NewMessage, SearchMode, SearchQuery, TenantId};
use memory_core::error::CoreError;
use memory_core::ports::{PortObserver, StorePorts};
use memory_core::testkit::{ConstantEmbedder, Fixture, InMemoryStore, conv};
use memory_core::{MemoryService, ServiceConfig};

const DIM: usize = 8;

fn run<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn ingest(svc: &MemoryService, text: &str) {
    let m = NewMessage::parse("acme", "c1", "user", text, None, None, None).expect("valid");
    run(svc.ingest(m, &TenantAccess::All)).expect("ingest");
}

#[test]
fn a_store_with_messages_and_vectors_only_serves_vector_search() {
    let store = Arc::new(InMemoryStore::new(DIM));
    let ports = StorePorts::new(store.clone(), store);
    let svc = MemoryService::new(
        ports,
        Arc::new(ConstantEmbedder::new(DIM)),
        ServiceConfig::default(),
    )
    .expect("service");
    ingest(&svc, "I love Python");
    let q = SearchQuery::parse("acme", "Python", None, None, None, None).expect("valid");
    let hybrid = run(svc.search(q.clone(), &TenantAccess::All)).expect("search");
    assert_eq!(
        hybrid.mode,
        SearchMode::Vector,
        "hybrid runs on vectors alone"
    );
    assert_eq!(hybrid.items.len(), 1);
    let lexical = run(svc.search(q.with_mode(SearchMode::Lexical), &TenantAccess::All));
    assert!(
        matches!(lexical, Err(CoreError::Unsupported(_))),
        "{lexical:?}"
    );
    let acme = TenantId::parse("acme").expect("valid");
    assert!(matches!(
        run(svc.erase_tenant(&acme, &TenantAccess::All)),
        Err(CoreError::Unsupported(_))
    ));
    assert!(matches!(
        run(svc.retention_policy(&acme)),
        Err(CoreError::Unsupported(_))
    ));
    assert_eq!(run(svc.analyze_unanalyzed(10)).expect("no-op"), 0);
}

#[test]
fn the_service_analyses_what_an_old_binary_stored_without_terms() {
    let store = Arc::new(InMemoryStore::new(DIM));
    let svc = MemoryService::new(
        StorePorts::full(store.clone()),
        Arc::new(ConstantEmbedder::new(DIM)),
        ServiceConfig::default(),
    )
    .expect("service");
    let old = Fixture::new("acme", "c1", DIM)
        .content("The lighthouse keeper waved")
        .build();
    store.insert_unanalyzed(old.clone());
    let lexical = || {
        let q = SearchQuery::parse("acme", "lighthouse", None, None, None, None)
            .expect("valid")
            .with_mode(SearchMode::Lexical);
        run(svc.search(q, &TenantAccess::All))
            .expect("search")
            .items
    };
    assert!(lexical().is_empty(), "no analysed text: no lexical match");
    assert_eq!(run(svc.analyze_all()).expect("backfill"), 1);
    assert_eq!(run(svc.analyze_all()).expect("nothing left"), 0);
    let hits = lexical();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message.id, old.id);
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, bool)>>);

impl PortObserver for Recorder {
    fn store_call(&self, operation: &'static str, _elapsed: Duration, ok: bool) {
        self.0.lock().expect("lock").push((operation, ok));
    }
}

#[test]
fn the_observer_sees_every_store_call_of_a_use_case() {
    let store = Arc::new(InMemoryStore::new(DIM));
    let recorder = Arc::new(Recorder::default());
    let svc = MemoryService::new(
        StorePorts::full(store),
        Arc::new(ConstantEmbedder::new(DIM)),
        ServiceConfig::default(),
    )
    .expect("service")
    .with_observer(recorder.clone());
    ingest(&svc, "the wedding is in Porto");
    let q =
        SearchQuery::parse("acme", "Porto wedding", Some("c1"), None, None, None).expect("valid");
    run(svc.search(q, &TenantAccess::All)).expect("search");
    run(svc.erase_conversation(
        &TenantId::parse("acme").expect("valid"),
        &conv("c1"),
        &TenantAccess::All,
    ))
    .expect("erase");
    let mut calls = recorder.0.lock().expect("lock").clone();
    // The search's four calls run concurrently: their order is not part of the contract.
    calls[1..5].sort();
    assert_eq!(
        calls,
        [
            ("insert", true),
            ("conversation_timeline", true),
            ("count_pending", true),
            ("lexical_candidates", true),
            ("search_candidates", true),
            ("delete_conversation", true),
        ]
    );
}
