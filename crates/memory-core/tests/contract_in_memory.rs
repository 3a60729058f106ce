//! The store contract suite, run against the testkit's `InMemoryStore`: one `#[test]` per
//! check. This is how other teams run the suite against their adapters.

use memory_core::testkit::InMemoryStore;

const DIM: usize = 17;

async fn fresh() -> (InMemoryStore, ()) {
    (InMemoryStore::new(DIM), ())
}

memory_core::contract_tests! {
    block_on = futures::executor::block_on,
    store = fresh(),
    dimension = DIM,
    checks = [messages, vector, lexical, retention, erasure, timeline, listing, editing, filters, leases],
}
