//! Wiring `MemoryService` by hand: the testkit's `InMemoryStore` (every store port in
//! memory) and its `ToyEmbedder` (hashed words, no model). Run it with
//! `cargo run -p memory-core --features testkit --example in_memory`.
//!
//! An adapter of yours plugs in the same way: implement the ports your store has, bundle
//! them with `StorePorts`, and run the contract suite on them (`tests/contract_in_memory.rs`
//! shows how).

use std::sync::Arc;

use memory_core::access::TenantAccess;
use memory_core::domain::{NewMessage, SearchQuery};
use memory_core::ports::StorePorts;
use memory_core::retention::RetentionRequest;
use memory_core::testkit::{InMemoryStore, ToyEmbedder};
use memory_core::{MemoryService, ServiceConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    futures::executor::block_on(async {
        let store = Arc::new(InMemoryStore::new(ToyEmbedder::DIM));
        let service = MemoryService::new(
            StorePorts::full(store),
            Arc::new(ToyEmbedder),
            ServiceConfig::default(),
        )?;
        let all = TenantAccess::All;
        for (role, text) in [
            ("user", "I love Python programming and machine learning"),
            ("assistant", "Noted! Python it is."),
            ("user", "My sister's wedding is in Porto in June"),
        ] {
            let m = service
                .ingest(
                    NewMessage::parse("acme", "conv-123", role, text, None, None, None)?,
                    &all,
                )
                .await?;
            println!(
                "stored {} ({}, importance {:.2}, embedding {})",
                m.id,
                m.role,
                m.importance_score.value(),
                m.embedding_status
            );
        }
        let query = SearchQuery::parse(
            "acme",
            "Which programming language do I love?",
            None,
            Some(2),
            None,
            None,
        )?;
        for hit in service.search(query, &all).await?.items {
            println!(
                "{:.3} (similarity {:.3}) {}",
                hit.score, hit.similarity, hit.message.content
            );
        }
        let report = service
            .run_retention(
                RetentionRequest::parse("acme", &["archive".into(), "delete".into()], true)?,
                &all,
            )
            .await?;
        println!(
            "retention dry run: {} to archive, {} to delete",
            report.archived, report.deleted
        );
        Ok(())
    })
}
