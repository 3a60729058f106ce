//! The repository contract suite, run against the example's in-memory adapter. This both
//! checks that adapter and shows other teams how to run the suite against theirs.

#[path = "../examples/in_memory.rs"]
#[allow(dead_code)]
mod example;

use example::InMemoryStore;

#[test]
fn in_memory_store_honours_the_repository_contract() {
    futures::executor::block_on(memory_core::testkit::run_all(
        || async { InMemoryStore::default() },
        17,
    ));
}
