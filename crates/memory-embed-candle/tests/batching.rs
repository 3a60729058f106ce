//! The async embedder: coalesces concurrent calls without changing any vector, and sheds
//! load at once when its queue is full.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_matches_golden, config, encoder, golden, max_abs_diff};
use memory_core::domain::TenantId;
use memory_core::error::EmbedderError;
use memory_core::ports::{EmbedPurpose, Embedder};
use memory_embed_candle::{CandleEmbedder, EmbedderConfig};

fn embedder(config: EmbedderConfig) -> CandleEmbedder {
    CandleEmbedder::from_encoder(encoder(), config).expect("worker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedder_matches_golden_through_the_port() {
    let golden = golden();
    let embedder = embedder(config());
    assert_eq!(embedder.dimension(), 384);
    assert_eq!(
        embedder.model_id(),
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    let texts: Vec<String> = golden.iter().map(|g| g.text.clone()).collect();
    let got: Vec<Vec<f32>> = embedder
        .embed(&texts)
        .await
        .unwrap()
        .iter()
        .map(|e| e.as_slice().to_vec())
        .collect();
    assert_matches_golden(&golden, &got);
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_text_calls_are_coalesced_and_unchanged() {
    let golden = golden();
    let direct: Vec<Vec<f32>> = {
        let encoder = encoder();
        golden
            .iter()
            .map(|g| encoder.encode_batch(&[&g.text]).unwrap().remove(0))
            .collect()
    };
    let embedder = Arc::new(embedder(EmbedderConfig {
        max_wait: Duration::from_millis(20),
        ..config()
    }));
    let calls: Vec<_> = golden
        .iter()
        .map(|g| {
            let embedder = Arc::clone(&embedder);
            let text = g.text.clone();
            tokio::spawn(async move { embedder.embed(&[text]).await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let got = call.await.unwrap().unwrap();
        assert_eq!(got.len(), 1);
        let diff = max_abs_diff(&direct[i], got[0].as_slice());
        assert!(
            diff <= 1e-6,
            "text {i}: coalesced result differs from a direct call by {diff}"
        );
    }
    let stats = embedder.stats();
    assert_eq!(stats.texts(), golden.len() as u64);
    assert!(
        stats.batches() < golden.len() as u64,
        "{} single-text calls ran as {} batches: nothing was coalesced",
        golden.len(),
        stats.batches()
    );
}

/// A caller that stops waiting (its time budget ran out) frees the worker from its job: the
/// texts are skipped, not embedded for nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_jobs_are_skipped() {
    use futures::FutureExt as _;
    let embedder = embedder(EmbedderConfig {
        max_batch_size: 1,
        ..config()
    });
    // 16 long texts, one forward pass each: the worker is busy for a good while.
    let long = "a fairly long sentence that keeps the worker busy for a while ".repeat(8);
    let busy: Vec<String> = (0..16).map(|i| format!("{i} {long}")).collect();
    let gone = vec!["nobody waits for me".to_string()];
    let busy_call = embedder.embed(&busy);
    tokio::pin!(busy_call);
    // Poll once: the busy job is queued (the worker starts on it).
    assert!((&mut busy_call).now_or_never().is_none());
    // Queue a job behind it, then drop the call before the worker gets to it.
    assert!(embedder.embed(&gone).now_or_never().is_none());
    assert_eq!(busy_call.await.expect("embedded").len(), 16);
    // The worker reaches the abandoned job right after the busy one.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while embedder.stats().abandoned() == 0 {
        assert!(std::time::Instant::now() < deadline, "never skipped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(embedder.stats().abandoned(), 1);
    assert_eq!(
        embedder.stats().texts(),
        16,
        "only the busy texts were embedded"
    );
    // The skipped job's queue slot is free again.
    assert_eq!(
        embedder.embed(&["hello".to_string()]).await.unwrap().len(),
        1
    );
}

/// A call that would wait behind more queued work than `max_queue_wait` (estimated from the
/// worker's recent speed) is refused at once; one that finds the queue empty never is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_behind_too_much_queued_work_is_overloaded_at_once() {
    use futures::FutureExt as _;
    let embedder = embedder(EmbedderConfig {
        max_batch_size: 1,
        max_queue_wait: Duration::from_millis(20),
        ..config()
    });
    let long = "a fairly long sentence that keeps the worker busy for a while ".repeat(8);
    // Measure the worker's speed on this kind of text (the queue is empty: admitted).
    embedder
        .embed(std::slice::from_ref(&long))
        .await
        .expect("warm-up");
    let per_text = embedder.stats().time_per_text();
    assert!(per_text > Duration::ZERO);
    let busy: Vec<String> = (0..16).map(|i| format!("{i} {long}")).collect();
    assert!(
        per_text * 15 > Duration::from_millis(20),
        "16 long texts must be more than 20 ms of work: {per_text:?} each"
    );
    let busy_call = embedder.embed(&busy);
    tokio::pin!(busy_call);
    assert!((&mut busy_call).now_or_never().is_none(), "queued");
    let started = std::time::Instant::now();
    match embedder.embed(&["hello".to_string()]).await {
        Err(EmbedderError::Overloaded {
            message,
            retry_after,
        }) => {
            assert!(message.contains("ms of work"), "{message}");
            // About 16 texts of work queued, 20 ms of it admissible: retry after the rest.
            assert!(
                retry_after > Duration::ZERO && retry_after <= per_text * 16,
                "retry after {retry_after:?} ({per_text:?} per text)"
            );
        }
        other => panic!("expected Overloaded, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(20),
        "refused at once"
    );
    assert_eq!(busy_call.await.expect("embedded").len(), 16);
    // The queue is empty again: admitted, however slow the worker was.
    assert_eq!(
        embedder.embed(&["hello".to_string()]).await.unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_is_overloaded_at_once() {
    let embedder = embedder(EmbedderConfig {
        queue_capacity: 4,
        ..config()
    });
    let long = "a fairly long sentence that keeps the worker busy for a while ".repeat(8);
    let busy: Vec<String> = (0..4).map(|i| format!("{i} {long}")).collect();
    let one = vec!["hello".to_string()];
    // join! polls `busy` first: its 4 texts fill the queue before `one` asks for room.
    let (busy_result, one_result) = tokio::join!(embedder.embed(&busy), embedder.embed(&one));
    assert_eq!(busy_result.unwrap().len(), 4);
    match one_result {
        Err(EmbedderError::Overloaded {
            message,
            retry_after,
        }) => {
            assert!(message.contains("queue full"), "{message}");
            assert!(retry_after > Duration::ZERO, "an estimate to wait for");
        }
        other => panic!("expected Overloaded, got {other:?}"),
    }
    // Room again once the work is done.
    assert_eq!(embedder.embed(&one).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_larger_than_the_queue_go_through_in_windows() {
    let golden = golden();
    let embedder = embedder(EmbedderConfig {
        queue_capacity: 7,
        max_batch_size: 4,
        ..config()
    });
    let texts: Vec<String> = golden.iter().map(|g| g.text.clone()).collect();
    let got: Vec<Vec<f32>> = embedder
        .embed(&texts)
        .await
        .unwrap()
        .iter()
        .map(|e| e.as_slice().to_vec())
        .collect();
    assert_matches_golden(&golden, &got);
}

fn long_texts(n: usize, tag: &str) -> Vec<String> {
    let long = "a fairly long sentence that keeps the worker busy for a while ".repeat(8);
    (0..n).map(|i| format!("{tag} {i} {long}")).collect()
}

/// Waits until the worker has started on queued work.
async fn until_busy(embedder: &CandleEmbedder) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while embedder.stats().batches() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never started"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The scenario in miniature: an import has queued many forward passes of ingest;
/// a search's query arriving behind them is embedded after at most the pass in progress,
/// not after the backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_overtakes_a_queued_ingest_backlog() {
    let embedder = Arc::new(embedder(EmbedderConfig {
        max_batch_size: 8,
        max_ingest_wait: Duration::ZERO,
        ..config()
    }));
    let backlog = long_texts(160, "import");
    let flood = {
        let (embedder, backlog) = (Arc::clone(&embedder), backlog.clone());
        let acme = EmbedPurpose::Ingest(TenantId::parse("acme").expect("valid"));
        tokio::spawn(async move { embedder.embed_for(&backlog, &acme).await })
    };
    until_busy(&embedder).await;
    let before = embedder.stats().texts();
    let query = embedder
        .embed_for(&["where did I go on holiday?".into()], &EmbedPurpose::Query)
        .await
        .expect("query embedded");
    assert_eq!(query.len(), 1);
    let after = embedder.stats().texts();
    // The pass in progress (8 texts), perhaps the one started as the query was queued, and
    // the query's own pass (the query and up to 7 ingest texts that fit beside it).
    assert!(
        after - before <= 3 * 8,
        "{} texts were embedded while the query waited (the backlog holds 160)",
        after - before
    );
    assert!(!flood.is_finished(), "the backlog was still being embedded");
    assert_eq!(
        flood.await.expect("task").expect("import embedded").len(),
        160
    );
}

/// A query does not even wait for the whole pass in progress: it cuts in between two of
/// the pass's layers, and the pass then goes on to give the same vectors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_cuts_into_the_pass_in_progress() {
    let embedder = Arc::new(embedder(EmbedderConfig {
        // One pass of 32 long texts: hundreds of milliseconds on this machine.
        max_batch_size: 32,
        max_pass_bytes: 1 << 20,
        max_ingest_wait: Duration::ZERO,
        ..config()
    }));
    let import = long_texts(160, "import");
    let flood = {
        let (embedder, import) = (Arc::clone(&embedder), import.clone());
        let acme = EmbedPurpose::Ingest(TenantId::parse("acme").expect("valid"));
        tokio::spawn(async move { embedder.embed_for(&import, &acme).await })
    };
    until_busy(&embedder).await;
    let question = "where did I go on holiday?".to_owned();
    let mut answers = Vec::new();
    // A query sent just as one pass ends starts the next pass itself: try a few times.
    for _ in 0..5 {
        answers.push(
            embedder
                .embed_for(std::slice::from_ref(&question), &EmbedPurpose::Query)
                .await
                .expect("query embedded"),
        );
        if embedder.stats().cut_in() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        embedder.stats().cut_in() >= 1,
        "no query cut into a running pass"
    );
    assert!(!flood.is_finished(), "the import was still being embedded");
    let imported = flood.await.expect("task").expect("import embedded");
    assert_eq!(imported.len(), 160);
    // The interrupted passes and the queries' own give the vectors they give alone.
    let alone = encoder()
        .encode(
            &[question.as_str(), import[0].as_str(), import[159].as_str()],
            32,
        )
        .expect("alone");
    for answer in &answers {
        assert!(max_abs_diff(answer[0].as_slice(), &alone[0]) < 1e-5);
    }
    assert!(max_abs_diff(imported[0].as_slice(), &alone[1]) < 1e-5);
    assert!(max_abs_diff(imported[159].as_slice(), &alone[2]) < 1e-5);
}

/// Inside the ingest lane tenants take turns: a tenant writing one message behind another
/// tenant's import waits for one of the import's passes, not for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_take_turns_in_the_ingest_lane() {
    let embedder = Arc::new(embedder(EmbedderConfig {
        max_batch_size: 8,
        max_ingest_wait: Duration::ZERO,
        ..config()
    }));
    let flood = {
        let embedder = Arc::clone(&embedder);
        let purpose = EmbedPurpose::Ingest(TenantId::parse("importer").expect("valid"));
        let texts = long_texts(120, "bulk");
        tokio::spawn(async move { embedder.embed_for(&texts, &purpose).await })
    };
    until_busy(&embedder).await;
    let before = embedder.stats().texts();
    let steady = EmbedPurpose::Ingest(TenantId::parse("steady").expect("valid"));
    embedder
        .embed_for(&["I moved to Porto".into()], &steady)
        .await
        .expect("embedded");
    let waited = embedder.stats().texts() - before;
    assert!(
        waited <= 3 * 8,
        "{waited} texts were embedded before the steady tenant's one (the import holds 120)"
    );
    assert!(!flood.is_finished());
    flood.await.expect("task").expect("import embedded");
}

/// Writes have a lower bound on the work they queue behind than queries: under
/// saturation a write is refused early (the service stores it pending), while a query
/// behind the same backlog is still admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_refused_early_where_a_query_is_admitted() {
    use futures::FutureExt as _;
    let embedder = embedder(EmbedderConfig {
        max_batch_size: 1,
        max_ingest_wait: Duration::from_millis(20),
        max_queue_wait: Duration::from_secs(10),
        ..config()
    });
    let acme = EmbedPurpose::Ingest(TenantId::parse("acme").expect("valid"));
    let texts = long_texts(16, "w");
    // Measure the speed (nothing ahead: admitted whatever the bound).
    embedder
        .embed_for(&texts[..1], &acme)
        .await
        .expect("warm-up");
    let busy = embedder.embed_for(&texts, &acme);
    tokio::pin!(busy);
    assert!((&mut busy).now_or_never().is_none(), "queued");
    match embedder.embed_for(&["one more".into()], &acme).await {
        Err(EmbedderError::Overloaded { .. }) => {}
        other => panic!("a write behind ~16 passes must be refused, got {other:?}"),
    }
    let question = ["a question".to_string()];
    let query = embedder.embed_for(&question, &EmbedPurpose::Query);
    let (busy, query) = tokio::join!(busy, query);
    assert_eq!(query.expect("the query is admitted").len(), 1);
    assert_eq!(busy.expect("embedded").len(), 16);
}
