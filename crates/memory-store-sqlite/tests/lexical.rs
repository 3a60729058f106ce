//! Lexical search and erasure beyond the contract suite: persistence, ranking, rows written
//! before the lexical migration, and the vector and full-text indexes after erasure.

use std::path::Path;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::MigrationHarness;
use memory_core::domain::{ConversationId, MessageId};
use memory_core::ports::{Erasure, LexicalQuery, LexicalSearch, VectorSearch};
use memory_core::scoring::HybridConfig;
use memory_core::testkit::{Fixture, basis, insert, query, tenant};
use memory_core::text::Analyzer;
use memory_store_sqlite::{MIGRATIONS, SqliteStore};

const DIM: usize = 8;

fn url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

fn lexical(t: &str, text: &str, limit: usize) -> LexicalQuery {
    LexicalQuery {
        tenant_id: tenant(t),
        conversation_id: None,
        importance_min: None,
        terms: Analyzer::english().query_terms(text),
        bm25: HybridConfig::default().bm25(),
        limit,
        filters: Default::default(),
    }
}

async fn lexical_ids(store: &SqliteStore, q: &LexicalQuery) -> Vec<MessageId> {
    store
        .lexical_candidates(q)
        .await
        .expect("lexical")
        .documents
        .into_iter()
        .map(|d| d.message.id)
        .collect()
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(path: &Path, sql: &str) -> i64 {
    let mut c = SqliteConnection::establish(path.to_str().expect("utf-8")).expect("connect");
    diesel::sql_query(sql)
        .get_result::<N>(&mut c)
        .expect("count")
        .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lexical_search_ranks_by_bm25_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rust3 = Fixture::new("t", "c1", DIM)
        .content("Rust, rust and more rust: the borrow checker")
        .build();
    let rust1 = Fixture::new("t", "c1", DIM)
        .content("I wrote some rust yesterday while drinking coffee in the garden")
        .build();
    let tea = Fixture::new("t", "c2", DIM)
        .content("Tea is better than coffee")
        .build();
    {
        let store = SqliteStore::open(&url(dir.path(), "m.db"), DIM).expect("open");
        for m in [&rust3, &rust1, &tea] {
            insert(&store, m).await.expect("insert");
        }
        assert_eq!(
            lexical_ids(&store, &lexical("t", "rust", 1)).await,
            vec![rust3.id],
            "more occurrences rank first (the core's BM25)"
        );
    }
    let store = SqliteStore::open(&url(dir.path(), "m.db"), DIM).expect("reopen");
    let got = store
        .lexical_candidates(&lexical("t", "rust coffee", 10))
        .await
        .expect("lexical");
    let mut ids: Vec<MessageId> = got.documents.iter().map(|d| d.message.id).collect();
    ids.sort();
    let mut want = vec![rust3.id, rust1.id, tea.id];
    want.sort();
    assert_eq!(ids, want, "after reopening");
    assert_eq!(got.scope_size, 3);
    let a = Analyzer::english();
    let total: usize = [&rust3, &rust1, &tea]
        .iter()
        .map(|m| a.terms(m.content.as_str()).len())
        .sum();
    assert!((got.average_length - total as f64 / 3.0).abs() < 1e-9);
    let mut q = lexical("t", "coffee", 10);
    q.conversation_id = Some(ConversationId::parse("c2").expect("conversation"));
    assert_eq!(lexical_ids(&store, &q).await, vec![tea.id]);
    // Terms that FTS5 would read as syntax are plain terms here.
    let odd = LexicalQuery {
        terms: vec![
            "or".into(),
            "\"and\"".into(),
            "not".into(),
            "*".into(),
            "".into(),
        ],
        ..lexical("t", "", 10)
    };
    assert!(lexical_ids(&store, &odd).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_before_the_lexical_migration_are_backfilled_by_the_service() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    {
        // A database at the first migration, as an older binary left it.
        let mut c = SqliteConnection::establish(path.to_str().expect("utf-8")).expect("connect");
        c.run_next_migration(MIGRATIONS).expect("first migration");
        for (i, (conv, content, archived)) in [
            ("c1", "Hiking in the Alps last summer", 0),
            ("c1", "We hiked again in spring", 0),
            ("c2", "Old hiking boots", 1),
            ("c2", "Nothing to see", 0),
        ]
        .into_iter()
        .enumerate()
        {
            let id = MessageId::new();
            diesel::sql_query(
                "INSERT INTO messages (id, tenant_id, conversation_id, role, content, \
                 importance_score, embedding_status, archived, created_at, updated_at) \
                 VALUES (?, 'old', ?, 'user', ?, 0.5, 'pending', ?, ?, ?)",
            )
            .bind::<diesel::sql_types::Binary, _>(id.as_uuid().as_bytes().to_vec())
            .bind::<Text, _>(conv)
            .bind::<Text, _>(content)
            .bind::<diesel::sql_types::Integer, _>(archived)
            .bind::<BigInt, _>(i as i64)
            .bind::<BigInt, _>(i as i64)
            .execute(&mut c)
            .expect("insert old row");
        }
    }
    let store = SqliteStore::open(&url(dir.path(), "old.db"), DIM).expect("open migrates");
    let unanalyzed = "SELECT count(*) AS n FROM messages WHERE lexical_doc IS NULL";
    assert_eq!(count(&path, unanalyzed), 4, "the store never analyses");
    assert!(
        lexical_ids(&store, &lexical("old", "hike", 10))
            .await
            .is_empty(),
        "unanalysed rows are not in the full-text index"
    );
    // What MemoryService::analyze_unanalyzed does: list, analyse in the core, store.
    let rows = store.unanalyzed(10).await.expect("unanalyzed");
    assert_eq!(rows.len(), 4);
    let analysed: Vec<_> = rows
        .iter()
        .map(|(id, content)| (*id, Analyzer::english().analyze(content.as_str())))
        .collect();
    assert_eq!(store.store_analysis(&analysed).await.expect("store"), 4);
    assert_eq!(count(&path, unanalyzed), 0, "every row analysed");
    assert!(store.unanalyzed(10).await.expect("unanalyzed").is_empty());
    let got = store
        .lexical_candidates(&lexical("old", "hike", 10))
        .await
        .expect("lexical");
    assert_eq!(got.documents.len(), 2, "archived excluded");
    assert_eq!(got.scope_size, 3);
    let a = Analyzer::english();
    for d in &got.documents {
        assert_eq!(d.terms, a.analyze(d.message.content.as_str()).terms());
    }
    let len = |s: &str| a.terms(s).len();
    let avg = (len("Hiking in the Alps last summer")
        + len("We hiked again in spring")
        + len("Nothing to see")) as f64
        / 3.0;
    assert!((got.average_length - avg).abs() < 1e-9);
    // New rows get fresh numbers in the full-text index.
    let new = Fixture::new("old", "c3", DIM)
        .content("More hiking")
        .build();
    insert(&store, &new).await.expect("insert");
    assert_eq!(
        lexical_ids(&store, &lexical("old", "hiking", 10))
            .await
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_trace_in_the_indexes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("erase.db");
    let store = SqliteStore::open(&url(dir.path(), "erase.db"), DIM).expect("open");
    let gone = Fixture::new("a", "c1", DIM)
        .content("secret plans")
        .embedded(basis(DIM, 0))
        .build();
    let kept = Fixture::new("a", "c2", DIM)
        .content("public plans")
        .embedded(basis(DIM, 0))
        .build();
    let other = Fixture::new("b", "c1", DIM)
        .content("secret plans of b")
        .embedded(basis(DIM, 0))
        .build();
    for m in [&gone, &kept, &other] {
        insert(&store, m).await.expect("insert");
    }
    let q = |t: &str| query(t, basis(DIM, 0), 10);
    // Load tenant a's vectors into the in-memory index before erasing.
    assert_eq!(
        store
            .search_candidates(&q("a"))
            .await
            .expect("search")
            .len(),
        2
    );

    let c1 = ConversationId::parse("c1").expect("conversation");
    assert_eq!(
        store
            .delete_conversation(&tenant("a"), &c1)
            .await
            .expect("erase"),
        1
    );
    let ids: Vec<MessageId> = store
        .search_candidates(&q("a"))
        .await
        .expect("search")
        .into_iter()
        .map(|c| c.message.id)
        .collect();
    assert_eq!(
        ids,
        vec![kept.id],
        "the vector index forgot the erased message"
    );
    assert!(
        lexical_ids(&store, &lexical("a", "secret", 10))
            .await
            .is_empty()
    );
    let stats = store
        .lexical_candidates(&lexical("a", "plans", 10))
        .await
        .expect("lexical");
    assert_eq!((stats.scope_size, stats.documents.len()), (1, 1));

    // Re-inserting into an erased conversation works, and is searchable.
    let again = Fixture::new("a", "c1", DIM)
        .content("new secret")
        .embedded(basis(DIM, 0))
        .build();
    insert(&store, &again).await.expect("insert");
    assert_eq!(
        lexical_ids(&store, &lexical("a", "secret", 10)).await,
        vec![again.id]
    );

    assert_eq!(store.delete_tenant(&tenant("a")).await.expect("erase"), 2);
    assert!(
        store
            .search_candidates(&q("a"))
            .await
            .expect("search")
            .is_empty()
    );
    let none = store
        .lexical_candidates(&lexical("a", "plans secret", 10))
        .await
        .expect("lexical");
    assert_eq!(
        (
            none.scope_size,
            none.documents.len(),
            none.document_frequencies
        ),
        (0, 0, vec![0, 0])
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) AS n FROM lexical_scopes WHERE tenant_id = 'a'"
        ),
        0,
        "no statistics row names the erased tenant"
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH 'scope : t61'"
        ),
        0,
        "nothing of tenant a in the full-text index"
    );
    assert_eq!(
        lexical_ids(&store, &lexical("b", "secret", 10)).await,
        vec![other.id],
        "other tenants untouched"
    );
}
