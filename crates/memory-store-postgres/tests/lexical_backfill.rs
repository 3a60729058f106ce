//! Rows written before lexical search (by an older binary: `lexical_terms` NULL) are listed
//! by `unanalyzed`, filled in by `store_analysis`, and searchable afterwards — directly and
//! through the service's `analyze_all`, which is what a server runs at startup.

use std::sync::Arc;

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use memory_core::access::TenantAccess;
use memory_core::domain::{MessageId, SearchMode, SearchQuery};
use memory_core::ports::{LexicalQuery, LexicalSearch, StorePorts};
use memory_core::scoring::HybridConfig;
use memory_core::testkit::{ConstantEmbedder, insert, message, tenant};
use memory_core::text::Analyzer;
use memory_core::{MemoryService, ServiceConfig};
use memory_store_postgres::testkit::TestDatabase;
use memory_store_postgres::{PostgresConfig, PostgresStore};

const DIM: usize = 384;

/// Inserts `texts` into `tenant` as an old binary did: no analysed text. Returns the ids.
async fn insert_old_rows(url: &str, tenant: &str, texts: &[&str]) -> Vec<MessageId> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
    }
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    let texts: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    let rows: Vec<Id> = diesel::sql_query(
        "INSERT INTO messages (id, tenant_id, conversation_id, role, content, metadata, \
         importance_score, embedding_status, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 'c1', 'user', t, '{}'::jsonb, 0.5, 'pending', now(), now() \
         FROM unnest($2::text[]) AS t RETURNING id",
    )
    .bind::<Text, _>(tenant)
    .bind::<diesel::sql_types::Array<Text>, _>(&texts)
    .load(&mut conn)
    .await
    .expect("insert old rows");
    rows.into_iter()
        .map(|r| MessageId::from_uuid(r.id))
        .collect()
}

fn lexical(t: &str, text: &str) -> LexicalQuery {
    LexicalQuery {
        tenant_id: tenant(t),
        conversation_id: None,
        importance_min: None,
        terms: Analyzer::english().query_terms(text),
        bm25: HybridConfig::default().bm25(),
        limit: 100,
        filters: Default::default(),
    }
}

async fn store() -> (PostgresStore, TestDatabase) {
    let db = TestDatabase::migrated().await.expect("database");
    let store = db.store(PostgresConfig::default()).await.expect("connect");
    (store, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_rows_are_listed_analysed_and_then_searchable() {
    let (store, db) = store().await;
    let current = message("acme", "c1", DIM);
    insert(&store, &current).await.expect("insert");
    let mut old = insert_old_rows(
        &db.url,
        "acme",
        &["The lighthouse keeper waved", "Harbour lights at dawn"],
    )
    .await;
    old.extend(insert_old_rows(&db.url, "globex", &["A lighthouse in Globex"]).await);
    old.sort();

    let listed = store.unanalyzed(10).await.expect("unanalyzed");
    let ids: Vec<MessageId> = listed.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids, old,
        "every tenant's old rows, by id; the analysed one is not listed"
    );
    assert_eq!(
        store.unanalyzed(1).await.expect("unanalyzed").len(),
        1,
        "limit"
    );
    let before = store
        .lexical_candidates(&lexical("acme", "lighthouse"))
        .await
        .expect("lexical");
    assert!(before.documents.is_empty(), "no analysed text: no match");

    let analyzer = Analyzer::english();
    let analysed: Vec<_> = listed
        .iter()
        .map(|(id, content)| (*id, analyzer.analyze(content.as_str())))
        .collect();
    assert_eq!(store.store_analysis(&analysed).await.expect("store"), 3);
    assert!(store.unanalyzed(10).await.expect("unanalyzed").is_empty());
    assert_eq!(store.store_analysis(&[]).await.expect("nothing"), 0);

    let after = store
        .lexical_candidates(&lexical("acme", "lighthouse"))
        .await
        .expect("lexical");
    assert_eq!(after.documents.len(), 1, "acme's lighthouse only");
    let doc = &after.documents[0];
    assert_eq!(doc.message.content.as_str(), "The lighthouse keeper waved");
    assert_eq!(
        doc.terms,
        analyzer.analyze("The lighthouse keeper waved").terms()
    );
    assert_eq!(
        after.scope_size, 3,
        "acme: the current row and two old ones"
    );
    assert_eq!(after.document_frequencies, vec![1]);
    let lengths = [
        analyzer.analyze(current.content.as_str()).length(),
        analyzer.analyze("The lighthouse keeper waved").length(),
        analyzer.analyze("Harbour lights at dawn").length(),
    ];
    let average = lengths.iter().sum::<usize>() as f64 / 3.0;
    assert!((after.average_length - average).abs() < 1e-9);
}

/// More old rows than one batch of the service's backfill (1,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_backfills_old_rows_in_batches() {
    let (store, db) = store().await;
    let texts: Vec<String> = (0..1_500)
        .map(|i| format!("note {i} about the harbour"))
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    insert_old_rows(&db.url, "acme", &texts).await;
    let lighthouse = insert_old_rows(&db.url, "acme", &["The lighthouse keeper waved"]).await;
    let svc = MemoryService::new(
        StorePorts::full(Arc::new(store.clone())),
        Arc::new(ConstantEmbedder::new(DIM)),
        ServiceConfig::default(),
    )
    .expect("service");
    let search = async |text: &str| {
        let q = SearchQuery::parse("acme", text, None, None, None, None)
            .expect("valid")
            .with_mode(SearchMode::Lexical);
        svc.search(q, &TenantAccess::All)
            .await
            .expect("search")
            .items
    };
    assert!(search("lighthouse").await.is_empty());
    assert_eq!(svc.analyze_all().await.expect("backfill"), 1_501);
    assert_eq!(svc.analyze_all().await.expect("nothing left"), 0);
    let hits = search("lighthouse").await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message.id, lighthouse[0]);
    let m = store
        .lexical_candidates(&lexical("acme", "harbour"))
        .await
        .expect("lexical");
    assert_eq!(m.document_frequencies, vec![1_500]);
    assert_eq!(m.documents.len(), 100, "limit");
}
