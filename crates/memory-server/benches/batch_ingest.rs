//! Batch import against the raw embedder and single-message ingest, side by side in one run.
//!
//! `cargo bench -p memory-server --bench batch_ingest -- [DATA_DIR] [--store sqlite|postgres]
//! [--rounds N] [--out FILE]` (or `./just bench-batch`). Each round, in turn:
//! 1. raw: the texts through `memory-server embed`'s code (`embed_lines` on an in-process
//!    encoder: no HTTP, no store; the model's ceiling);
//! 2. batch: `POST /v1/messages/batch`, 1,000 messages per request, one request at a time;
//!    then batch-2: the same with two requests in flight (one embeds while the other is
//!    written);
//! 3. single-8 and single-32: `POST /v1/messages` from 8 and 32 clients, each sending its
//!    next message as soon as its last one is answered (issue 17's target 4: single-32 at
//!    least 85% of raw), with the p50/p99 of the 202s;
//! 4. single-1: `POST /v1/messages`, one at a time, on the first 500 messages.
//!
//! Every ingest goes to a fresh tenant of a fresh store per round. Reported: messages per
//! second for each, per round and the median, how many each left pending (answered before the
//! model embedded them: not counted as embedded throughput), and the ratios.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use memory_core::ports::Embedder;
use memory_embed_candle::SentenceEncoder;
use memory_server::config::Settings;
use memory_server::startup::Application;
use serde_json::{Value, json};

fn read_jsonl(path: &PathBuf) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).context("a JSON line"))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The body of one message, for `tenant`.
fn body(line: &Value, tenant: &str) -> Value {
    let mut b = line.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("message_id");
        o.insert("tenant_id".into(), json!(tenant));
    }
    b
}

/// What `clients` single-message clients achieved.
struct Single {
    /// Messages answered per second.
    rate: f64,
    /// Answered `pending` (stored before the model embedded them).
    pending: usize,
    /// Milliseconds to each 202, sorted.
    latencies_ms: Vec<f64>,
}

impl Single {
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies_ms.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_ms.get(i).copied().unwrap_or(f64::NAN)
    }
}

/// `lines` through `POST /v1/messages` from `clients` clients, each sending its next message
/// as soon as its last one is answered.
async fn single(
    client: &reqwest::Client,
    base: &str,
    lines: &[Value],
    tenant: &str,
    clients: usize,
) -> anyhow::Result<Single> {
    use futures::StreamExt;
    let started = Instant::now();
    let answers: Vec<anyhow::Result<(f64, bool)>> = futures::stream::iter(lines)
        .map(|l| async move {
            let sent = Instant::now();
            let r = client
                .post(format!("{base}/v1/messages"))
                .json(&body(l, tenant))
                .send()
                .await?;
            anyhow::ensure!(r.status().as_u16() == 202, "ingest: {}", r.status());
            let ms = sent.elapsed().as_secs_f64() * 1000.0;
            let out: Value = r.json().await?;
            Ok((ms, out["embedding_status"] != "completed"))
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    let rate = lines.len() as f64 / started.elapsed().as_secs_f64();
    let mut latencies_ms = Vec::with_capacity(answers.len());
    let mut pending = 0;
    for a in answers {
        let (ms, left) = a?;
        latencies_ms.push(ms);
        pending += usize::from(left);
    }
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Single {
        rate,
        pending,
        latencies_ms,
    })
}

/// Sends `lines` in batches of 1,000, `in_flight` requests at a time; returns messages per
/// second and how many were left pending.
async fn batch(
    client: &reqwest::Client,
    base: &str,
    lines: &[Value],
    tenant: &str,
    in_flight: usize,
) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let chunks: Vec<&[Value]> = lines.chunks(1000).collect();
    let mut pending = 0;
    for group in chunks.chunks(in_flight) {
        let futs = group
            .iter()
            .map(|chunk| send_batch(client, base, chunk, tenant));
        for r in futures::future::join_all(futs).await {
            pending += r?;
        }
    }
    Ok((
        lines.len() as f64 / started.elapsed().as_secs_f64(),
        pending,
    ))
}

/// One batch request; returns how many of its messages were left pending.
async fn send_batch(
    client: &reqwest::Client,
    base: &str,
    chunk: &[Value],
    tenant: &str,
) -> anyhow::Result<usize> {
    let items: Vec<Value> = chunk
        .iter()
        .map(|l| {
            let mut b = body(l, tenant);
            if let Some(o) = b.as_object_mut() {
                o.remove("tenant_id");
            }
            b
        })
        .collect();
    let r = client
        .post(format!("{base}/v1/messages/batch"))
        .json(&json!({"tenant_id": tenant, "messages": items}))
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 207, "batch: {}", r.status());
    let out: Value = r.json().await?;
    anyhow::ensure!(
        out["created"].as_u64() == Some(chunk.len() as u64),
        "batch: {out}"
    );
    Ok(out["results"].as_array().map_or(0, |a| {
        a.iter()
            .filter(|i| i["embedding_status"] != "completed")
            .count()
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // As the binary does, so that the server in this process is the one users run.
    memory_server::allocator::tune();
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut data = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/bench-data/locomo-dev"
    ));
    let mut store = "sqlite".to_owned();
    let mut rounds = 2usize;
    let mut out: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--store" => store = args.next().context("--store needs a value")?,
            "--rounds" => rounds = args.next().context("--rounds needs a value")?.parse()?,
            "--out" => out = Some(args.next().context("--out needs a value")?.into()),
            other if !other.starts_with("--") => data = other.into(),
            other => bail!("unknown argument {other}"),
        }
    }
    let lines = read_jsonl(&data.join("messages.jsonl"))?;
    let texts: String = lines
        .iter()
        .map(|l| {
            l["content"]
                .as_str()
                .unwrap_or_default()
                .replace(['\n', '\r'], " ")
                + "\n"
        })
        .collect();
    eprintln!("{} messages from {}", lines.len(), data.display());

    let mut settings = Settings::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    settings.port = 0;
    settings.api_keys = String::new().into();
    settings.global_rate_limit = "1000000/second".into();
    settings.retention_schedule_seconds = 0;
    settings.log_level = "warn".into();
    let config = memory_server::adapters::embedder_config(&settings);
    let encoder = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || SentenceEncoder::load(&config)).await??
    };
    let encoder = Arc::new(encoder);
    let embedder: Arc<dyn Embedder> = memory_server::adapters::embedder(&settings).await?;
    let client = reqwest::Client::new();
    let (mut raw, mut batched, mut batched2, mut single8, mut single1, mut left_pending) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut single32, mut single32_pending, mut single8_pending) = (vec![], vec![], vec![]);
    let mut left_pending2 = vec![];
    let (mut single32_p50, mut single32_p99) = (vec![], vec![]);
    for round in 0..rounds {
        // 1. raw
        let (enc, input, max_batch) = (encoder.clone(), texts.clone(), config.max_batch_size);
        let started = Instant::now();
        let n = tokio::task::spawn_blocking(move || {
            memory_server::embed_lines::embed_lines(
                &enc,
                input.as_bytes(),
                std::io::sink(),
                max_batch,
            )
        })
        .await??;
        raw.push(n as f64 / started.elapsed().as_secs_f64());

        // A fresh store for the ingest runs of this round.
        let dir = std::env::temp_dir().join(format!("memory-batch-{}-{round}", std::process::id()));
        let mut pg = None;
        let mut s = settings.clone();
        s.database_url = match store.as_str() {
            "sqlite" => format!("sqlite://{}/bench.db", dir.display()),
            "postgres" => {
                let db = memory_store_postgres::testkit::TestDatabase::create().await?;
                let url = db.url.clone();
                pg = Some(db);
                url
            }
            other => bail!("unknown store {other}"),
        };
        let ports =
            memory_server::adapters::store(&s, embedder.dimension(), &embedder.model_id()).await?;
        let app = Application::build_with(s, ports, embedder.clone()).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let server = tokio::spawn(app.run_until_stopped());

        // 2. batch, 3. single-8 and single-32, 4. single-1
        let (rate, pending) = batch(&client, &base, &lines, &format!("batch-{round}"), 1).await?;
        batched.push(rate);
        let (rate2, pending2) =
            batch(&client, &base, &lines, &format!("batch2-{round}"), 2).await?;
        batched2.push(rate2);
        left_pending.push(pending as f64);
        left_pending2.push(pending2 as f64);
        let s8 = single(&client, &base, &lines, &format!("single8-{round}"), 8).await?;
        single8.push(s8.rate);
        single8_pending.push(s8.pending as f64);
        let s32 = single(&client, &base, &lines, &format!("single32-{round}"), 32).await?;
        single32.push(s32.rate);
        single32_pending.push(s32.pending as f64);
        single32_p50.push(s32.percentile(0.50));
        single32_p99.push(s32.percentile(0.99));
        let s1 = single(
            &client,
            &base,
            &lines[..500.min(lines.len())],
            &format!("single1-{round}"),
            1,
        )
        .await?;
        single1.push(s1.rate);
        eprintln!(
            "round {round}: raw {:.0}/s, batch {:.0}/s ({} left pending), batch-2 {:.0}/s ({} left pending), single-8 {:.0}/s ({} pending), single-32 {:.0}/s ({} pending, 202 p50 {:.0} ms, p99 {:.0} ms), single-1 {:.0}/s",
            raw[round],
            batched[round],
            pending,
            batched2[round],
            pending2,
            single8[round],
            s8.pending,
            single32[round],
            s32.pending,
            s32.percentile(0.50),
            s32.percentile(0.99),
            single1[round]
        );
        server.abort();
        drop(pg);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (raw_m, batch_m, s8_m, s1_m) = (
        median(raw.clone()),
        median(batched.clone()),
        median(single8.clone()),
        median(single1.clone()),
    );
    let batch2_m = median(batched2.clone());
    let s32_m = median(single32.clone());
    let report = json!({
        "store": store,
        "messages": lines.len(),
        "rounds": rounds,
        "raw_per_s": raw, "batch_per_s": batched, "batch2_per_s": batched2, "single8_per_s": single8, "single1_per_s": single1,
        "single32_per_s": single32,
        "batch_left_pending": left_pending,
        "batch2_left_pending": left_pending2,
        "single8_left_pending": single8_pending,
        "single32_left_pending": single32_pending,
        "single32_p50_ms": single32_p50,
        "single32_p99_ms": single32_p99,
        "median": {"raw": raw_m, "batch": batch_m, "batch2": batch2_m, "single8": s8_m, "single32": s32_m, "single1": s1_m},
        "single32_over_raw": s32_m / raw_m,
        "single8_over_raw": s8_m / raw_m,
        "batch_over_raw": batch_m / raw_m,
        "batch2_over_raw": batch2_m / raw_m,
        "batch_over_single8": batch_m / s8_m,
        "batch_over_single1": batch_m / s1_m,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = out {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
