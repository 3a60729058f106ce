//! The store contract suite (feature `testkit`), one module per port, plus what store tests
//! share: fixtures, an [`InMemoryStore`], a [`ToyEmbedder`] and (feature `mocks`) the ports'
//! mockall mocks.
//!
//! Every check is a plain async function, executor-agnostic, that takes an empty store and
//! its embedding dimension and panics with a message naming the broken rule. Run them all,
//! one `#[test]` each, with [`contract_tests!`](crate::contract_tests):
//!
//! ```ignore
//! async fn fresh() -> (MyStore, TempDir) { /* an empty store, and what keeps it alive */ }
//!
//! memory_core::contract_tests! {
//!     test = #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
//!     store = fresh(),
//!     dimension = 384,
//!     checks = [messages, vector, lexical, retention, erasure, timeline, listing, editing,
//!               filters, leases, claims],
//! }
//! ```
//!
//! `checks` names the ports the store implements (`claims`: a store that claims the
//! catch-up worker's batches, for several processes). Without an async test attribute, use
//! `block_on = futures::executor::block_on` in place of `test = ...`.

mod fixtures;
mod in_memory;
mod in_memory_leases;
mod in_memory_listing;
mod toy_embedder;

pub mod claims;
pub mod editing;
pub mod erasure;
pub mod filters;
pub mod leases;
pub mod lexical;
pub mod listing;
pub mod messages;
pub mod retention;
pub mod timeline;
pub mod vector;

pub use fixtures::{Fixture, basis, message, t0, tilted};
pub use in_memory::InMemoryStore;
pub use toy_embedder::{ConstantEmbedder, ToyEmbedder};

#[cfg(feature = "mocks")]
pub use crate::mocks;

use crate::domain::{ConversationId, Embedding, Message, MessageId, TenantId};
use crate::error::RepositoryError;
use crate::ports::{CandidateQuery, MessageRecord, MessageStore, RetentionStore, VectorSearch};

/// A valid tenant id (panics otherwise: for tests).
pub fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).expect("valid tenant")
}

/// A valid conversation id (panics otherwise: for tests).
pub fn conv(s: &str) -> ConversationId {
    ConversationId::parse(s).expect("valid conversation")
}

/// A tenant-wide vector query.
pub fn query(t: &str, e: Embedding, limit: usize) -> CandidateQuery {
    CandidateQuery {
        tenant_id: tenant(t),
        conversation_id: None,
        importance_min: None,
        embedding: e,
        limit,
        filters: Default::default(),
    }
}

/// Inserts `m` as the service would: with its content analysed.
pub async fn insert<S: MessageStore + ?Sized>(
    store: &S,
    m: &Message,
) -> Result<(), RepositoryError> {
    store.insert(&MessageRecord::new(m.clone())).await
}

/// Archives `tenant`'s messages created more than 30 days before [`t0`] (none for their
/// importance), as a retention run at `t0` would; returns how many it archived.
pub async fn archive_old<S: RetentionStore + ?Sized>(store: &S, tenant: &str) -> u64 {
    let rule = crate::retention::ArchiveRule {
        created_before: t0() - chrono::Duration::days(30),
        importance_below: crate::domain::Importance::saturating(0.0),
    };
    store
        .archive(&self::tenant(tenant), &rule, t0(), false)
        .await
        .expect("archive")
}

/// The ids a vector query returns, in order.
pub async fn ids_of<S: VectorSearch + ?Sized>(store: &S, q: &CandidateQuery) -> Vec<MessageId> {
    store
        .search_candidates(q)
        .await
        .expect("search_candidates")
        .into_iter()
        .map(|c| c.message.id)
        .collect()
}

/// One `#[test]` per contract check, for the ports named in `checks`; see the
/// [module docs](crate::testkit). `store` is an async expression giving `(store, guard)`:
/// a fresh, empty store, and anything that must outlive the test (a temporary directory, a
/// test database; `()` when nothing). Each group becomes a module (`messages::round_trip`).
#[macro_export]
macro_rules! contract_tests {
    (
        test = #[$attr:meta],
        store = $make:expr,
        dimension = $dim:expr,
        checks = [$($group:ident),+ $(,)?] $(,)?
    ) => {
        $( $crate::__contract_group!([async $attr], $make, $dim, $group); )+
    };
    (
        block_on = $block:path,
        store = $make:expr,
        dimension = $dim:expr,
        checks = [$($group:ident),+ $(,)?] $(,)?
    ) => {
        $( $crate::__contract_group!([block $block], $make, $dim, $group); )+
    };
}

/// The checks of each group (the suite's table of contents).
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_group {
    ($mode:tt, $make:expr, $dim:expr, messages) => {
        $crate::__contract_checks!(
            $mode,
            $make,
            $dim,
            messages,
            [
                round_trip,
                get_unknown_is_none,
                duplicate_insert_conflicts,
                set_embedding,
                pending_embeddings,
                count_pending,
                concurrent_writers,
                wrong_dimension_is_refused,
                insert_batch_is_atomic,
                insert_parts_is_one_transaction
            ]
        );
    };
    ($mode:tt, $make:expr, $dim:expr, vector) => {
        $crate::__contract_checks!(
            $mode,
            $make,
            $dim,
            vector,
            [
                search_orders_by_similarity,
                search_whole_history,
                tenant_isolation,
                filters,
                wrong_query_dimension_is_refused
            ]
        );
    };
    ($mode:tt, $make:expr, $dim:expr, lexical) => {
        $crate::__contract_checks!(
            $mode,
            $make,
            $dim,
            lexical,
            [
                lexical_candidates,
                ranking_is_the_cores_beyond_the_limit,
                store_analysis_replaces_terms
            ]
        );
    };
    ($mode:tt, $make:expr, $dim:expr, retention) => {
        $crate::__contract_checks!(
            $mode,
            $make,
            $dim,
            retention,
            [archive_semantics, purge_semantics, retention_policies]
        );
    };
    ($mode:tt, $make:expr, $dim:expr, erasure) => {
        $crate::__contract_checks!($mode, $make, $dim, erasure, [erasure]);
    };
    ($mode:tt, $make:expr, $dim:expr, listing) => {
        $crate::__contract_checks!(
            $mode,
            $make,
            $dim,
            listing,
            [orders_and_pages, filters, conversations]
        );
    };
    ($mode:tt, $make:expr, $dim:expr, editing) => {
        $crate::__contract_checks!(
            $mode,
            $make,
            $dim,
            editing,
            [
                update_applies_and_is_recorded,
                update_with_key,
                delete_one,
                erasure_takes_history
            ]
        );
    };
    ($mode:tt, $make:expr, $dim:expr, filters) => {
        $crate::__contract_checks!(
            $mode,
            $make,
            $dim,
            filters,
            [
                vector_filters_match_the_oracle,
                lexical_filters_match_the_oracle
            ]
        );
    };
    ($mode:tt, $make:expr, $dim:expr, claims) => {
        $crate::__contract_checks!($mode, $make, $dim, claims, [claims_are_disjoint]);
    };
    ($mode:tt, $make:expr, $dim:expr, leases) => {
        $crate::__contract_checks!(
            $mode,
            $make,
            $dim,
            leases,
            [
                one_holder_at_a_time,
                expired_leases_are_free,
                racing_holders_get_one_lease
            ]
        );
    };
    ($mode:tt, $make:expr, $dim:expr, timeline) => {
        $crate::__contract_checks!($mode, $make, $dim, timeline, [conversation_timeline]);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_checks {
    ([async $attr:meta], $make:expr, $dim:expr, $group:ident, [$($check:ident),+ $(,)?]) => {
        mod $group {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[$attr]
                async fn $check() {
                    let (store, _guard) = $make.await;
                    $crate::testkit::$group::$check(&store, $dim).await;
                }
            )+
        }
    };
    ([block $block:path], $make:expr, $dim:expr, $group:ident, [$($check:ident),+ $(,)?]) => {
        mod $group {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    $block(async {
                        let (store, _guard) = $make.await;
                        $crate::testkit::$group::$check(&store, $dim).await;
                    });
                }
            )+
        }
    };
}
