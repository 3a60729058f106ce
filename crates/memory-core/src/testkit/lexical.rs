//! Contract checks of [`LexicalSearch`]: what matches, the scope's statistics, and the
//! ranking (the core's BM25, the same on every store however many messages match).

use chrono::Duration;

use super::{Fixture, archive_old, basis, conv, insert, t0, tenant};
use crate::domain::{Importance, MessageId};
use crate::ports::{LexicalQuery, LexicalSearch, MessageStore, RetentionStore, rank_matches};
use crate::scoring::HybridConfig;
use crate::text::Analyzer;

fn lexical(t: &str, terms: &[&str]) -> LexicalQuery {
    LexicalQuery {
        tenant_id: tenant(t),
        conversation_id: None,
        importance_min: None,
        terms: terms.iter().map(|s| (*s).to_owned()).collect(),
        bm25: HybridConfig::default().bm25(),
        limit: 100,
        filters: Default::default(),
    }
}

async fn lexical_ids<S: LexicalSearch>(store: &S, q: &LexicalQuery) -> Vec<MessageId> {
    let mut ids: Vec<MessageId> = store
        .lexical_candidates(q)
        .await
        .expect("lexical_candidates")
        .documents
        .into_iter()
        .map(|d| d.message.id)
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<MessageId>) -> Vec<MessageId> {
    ids.sort();
    ids
}

/// analyzed text and the scope's statistics.
pub async fn lexical_candidates<S: MessageStore + LexicalSearch + RetentionStore>(
    store: &S,
    dim: usize,
) {
    let py1 = Fixture::new("acme", "c1", dim)
        .content("I love Python programming")
        .embedded(basis(dim, 0))
        .importance(0.9)
        .build();
    let py2 = Fixture::new("acme", "c2", dim)
        .content("Pythons are large snakes; python, python!")
        .importance(0.2)
        .build();
    let other = Fixture::new("acme", "c1", dim)
        .content("The weather was sunny in Lisbon")
        .embedded(basis(dim, 1))
        .build();
    let archived = Fixture::new("acme", "c1", dim)
        .content("Old python notes")
        .embedded(basis(dim, 0))
        .created(t0() - Duration::days(365))
        .build();
    let foreign = Fixture::new("globex", "c1", dim)
        .content("Python at Globex")
        .embedded(basis(dim, 0))
        .build();
    for m in [&py1, &py2, &other, &archived, &foreign] {
        insert(store, m).await.expect("insert");
    }
    assert_eq!(archive_old(store, "acme").await, 1);

    let analyzer = Analyzer::english();
    let got = store
        .lexical_candidates(&lexical("acme", &["python"]))
        .await
        .expect("lexical");
    let mut docs = got.documents.clone();
    docs.sort_by_key(|d| d.message.id);
    assert_eq!(
        docs.iter().map(|d| d.message.id).collect::<Vec<_>>(),
        sorted(vec![py1.id, py2.id]),
        "tenant scope, archived excluded, pending included"
    );
    for d in &docs {
        assert_eq!(
            d.terms,
            analyzer.analyze(d.message.content.as_str()).terms(),
            "the analyzed text is the analyzer's"
        );
        assert_eq!(
            d.message.embedding.is_some(),
            d.message.id == py1.id,
            "embeddings come along when present"
        );
    }
    assert_eq!(got.scope_size, 3, "the scope: acme's non-archived messages");
    assert_eq!(
        got.document_frequencies,
        vec![2],
        "document frequency over the scope"
    );
    let lengths: Vec<usize> = [&py1, &py2, &other]
        .iter()
        .map(|m| analyzer.terms(m.content.as_str()).len())
        .collect();
    let avg = lengths.iter().sum::<usize>() as f64 / 3.0;
    assert!(
        (got.average_length - avg).abs() < 1e-6,
        "average length {} vs {avg}",
        got.average_length
    );

    assert_eq!(
        lexical_ids(store, &lexical("acme", &["sunni", "snake"])).await,
        sorted(vec![py2.id, other.id]),
        "any term matches"
    );
    assert!(
        lexical_ids(store, &lexical("acme", &["zebra"]))
            .await
            .is_empty()
    );
    assert!(
        lexical_ids(store, &lexical("acme", &[])).await.is_empty(),
        "no terms, no documents"
    );
    let mut q = lexical("acme", &["python"]);
    q.conversation_id = Some(conv("c2"));
    let scoped = store.lexical_candidates(&q).await.expect("lexical");
    assert_eq!(
        scoped
            .documents
            .iter()
            .map(|d| d.message.id)
            .collect::<Vec<_>>(),
        vec![py2.id],
        "conversation scope"
    );
    assert_eq!(scoped.scope_size, 1);
    assert_eq!(scoped.document_frequencies, vec![1]);
    let mut q = lexical("acme", &["python"]);
    q.importance_min = Some(Importance::saturating(0.5));
    assert_eq!(lexical_ids(store, &q).await, vec![py1.id], "importance_min");
    let mut q = lexical("acme", &["python", "weather"]);
    q.limit = 2;
    assert_eq!(
        store
            .lexical_candidates(&q)
            .await
            .expect("lexical")
            .documents
            .len(),
        2,
        "limit"
    );
    assert_eq!(
        lexical_ids(store, &lexical("globex", &["python"])).await,
        vec![foreign.id]
    );
    let empty = store
        .lexical_candidates(&lexical("nobody", &["python"]))
        .await
        .expect("lexical");
    assert_eq!((empty.scope_size, empty.documents.len()), (0, 0));
}

/// With more matches than the limit (1,100 against 1,000), the store returns exactly the
/// best by the core's BM25 over the whole scope, in order, ties by id: the reference is
/// [`rank_matches`] over every message the check stored.
pub async fn ranking_is_the_cores_beyond_the_limit<S: MessageStore + LexicalSearch>(
    store: &S,
    dim: usize,
) {
    const MATCHES: usize = 1_100;
    let analyzer = Analyzer::english();
    let words = ["apple", "banana", "cherry", "damson", "elder"];
    let mut all = Vec::new();
    for i in 0..MATCHES + 50 {
        // Term frequencies and lengths vary, so scores spread out and many tie.
        let text = if i < MATCHES {
            let mut t = vec!["orchard"; 1 + i % 3];
            t.extend(std::iter::repeat_n(words[i % 5], i % 4));
            if i % 7 == 0 {
                t.push("quince");
            }
            t.join(" ")
        } else {
            format!("unrelated words {i}")
        };
        let m = Fixture::new("acme", &format!("c{}", i % 9), dim)
            .content(&text)
            .build();
        insert(store, &m).await.expect("insert");
        all.push((m.id, analyzer.analyze(&text)));
    }
    let other = Fixture::new("globex", "c1", dim)
        .content("orchard quince orchard")
        .build();
    insert(store, &other).await.expect("insert other tenant");

    let mut q = lexical("acme", &[]);
    q.terms = analyzer.query_terms("orchard quince banana");
    q.limit = 1_000;
    let got = store.lexical_candidates(&q).await.expect("lexical");
    let total: usize = all.iter().map(|(_, a)| a.length()).sum();
    let average = total as f64 / all.len() as f64;
    let matches: Vec<(MessageId, String, ())> = all
        .iter()
        .filter(|(_, a)| a.terms().split(' ').any(|t| q.terms.iter().any(|w| w == t)))
        .map(|(id, a)| (*id, a.terms().to_owned(), ()))
        .collect();
    assert_eq!(matches.len(), MATCHES);
    let reference = rank_matches(&q, all.len() as u64, average, matches);
    assert_eq!(got.scope_size, all.len() as u64);
    assert!((got.average_length - average).abs() < 1e-6);
    assert_eq!(
        got.document_frequencies, reference.document_frequencies,
        "frequencies over the whole scope, not over the documents returned"
    );
    let ids: Vec<MessageId> = got.documents.iter().map(|d| d.message.id).collect();
    let expected: Vec<MessageId> = reference.best.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 1_000, "limit");
    assert!(
        ids == expected,
        "the best 1,000 by the core's BM25, best first, ties by id (first difference at {:?})",
        ids.iter().zip(&expected).position(|(a, b)| a != b)
    );
}

/// Messages stored by the service always carry analysed text; `store_analysis` replaces it
/// (the backfill's write), and lexical search then finds the message by the new terms.
pub async fn store_analysis_replaces_terms<S: MessageStore + LexicalSearch>(store: &S, dim: usize) {
    let m = Fixture::new("acme", "c1", dim)
        .content("the harbour at dawn")
        .build();
    insert(store, &m).await.expect("insert");
    assert!(
        store.unanalyzed(10).await.expect("unanalyzed").is_empty(),
        "inserted messages are analysed"
    );
    let analysed = Analyzer::english().analyze("lighthouse keeper");
    assert_eq!(
        store
            .store_analysis(&[(m.id, analysed), (MessageId::new(), Default::default())])
            .await
            .expect("store analysis"),
        1,
        "unknown ids are skipped"
    );
    let mut q = lexical("acme", &[]);
    q.terms = Analyzer::english().query_terms("lighthouse");
    assert_eq!(lexical_ids(store, &q).await, vec![m.id]);
    q.terms = Analyzer::english().query_terms("harbour");
    assert!(lexical_ids(store, &q).await.is_empty());
    let mut q = lexical("acme", &[]);
    q.terms = Analyzer::english().query_terms("keeper");
    let after = store.lexical_candidates(&q).await.expect("lexical");
    assert_eq!(after.scope_size, 1);
    assert!(
        (after.average_length - 2.0).abs() < 1e-9,
        "statistics follow"
    );
}
