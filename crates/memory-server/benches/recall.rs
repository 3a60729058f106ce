//! LoCoMo retrieval benchmark through the public API (issue 7).
//!
//! ```text
//! cargo bench -p memory-server --bench recall -- [DATA_DIR] [--store sqlite|postgres] [--mode M]... [--out FILE]
//! ```
//!
//! Starts the real server (real model; the embedded store, or Postgres at
//! `MEMORY_TEST_DATABASE_URL`), imports every message of DATA_DIR/messages.jsonl through
//! `POST /v1/messages` with its `created_at`, asks every question of DATA_DIR/queries.jsonl
//! through `GET /v1/memory/search` scoped to its conversation, and reports recall@1/5/10 and
//! MRR@10, overall and per category, next to two baselines computed in the same run outside
//! the service: BM25 (stopwords removed) and exact dense cosine with the same model.
//! Also reports ingest throughput and search latency, and the "nothing relevant" case
//! (`recall/separation.rs`): every question asked of another conversation too, and how well
//! the top result's relevance tells the two apart. The data (LoCoMo, CC BY-NC 4.0) is
//! read from DATA_DIR and never copied into the project.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use memory_core::ports::Embedder;
use memory_server::config::Settings;
use memory_server::startup::Application;
use serde_json::{Value, json};

#[path = "recall/separation.rs"]
mod separation;
use separation::Separation;
#[path = "recall/baseline.rs"]
mod baseline;
use baseline::bm25_rank;

struct Msg {
    id: String,
    conversation: String,
    content: String,
    line: Value,
}

struct Query {
    conversation: String,
    text: String,
    evidence: Vec<String>,
    category: i64,
}

#[derive(Default, Clone)]
struct Scores {
    n: usize,
    r1: f64,
    r5: f64,
    r10: f64,
    mrr: f64,
}

impl Scores {
    fn add(&mut self, ranked: &[String], evidence: &[String]) {
        let ev: HashSet<&String> = evidence.iter().collect();
        let recall = |k: usize| {
            ranked.iter().take(k).filter(|id| ev.contains(id)).count() as f64 / ev.len() as f64
        };
        self.n += 1;
        self.r1 += recall(1);
        self.r5 += recall(5);
        self.r10 += recall(10);
        if let Some(pos) = ranked.iter().take(10).position(|id| ev.contains(id)) {
            self.mrr += 1.0 / (pos + 1) as f64;
        }
    }

    fn json(&self) -> Value {
        let n = self.n.max(1) as f64;
        json!({"n": self.n, "r@1": self.r1 / n, "r@5": self.r5 / n, "r@10": self.r10 / n, "mrr@10": self.mrr / n})
    }
}

/// Scores overall and per category.
#[derive(Default)]
struct Report(BTreeMap<String, Scores>);

impl Report {
    fn add(&mut self, category: i64, ranked: &[String], evidence: &[String]) {
        self.0
            .entry("all".into())
            .or_default()
            .add(ranked, evidence);
        self.0
            .entry(format!("cat {category}"))
            .or_default()
            .add(ranked, evidence);
    }

    fn json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), v.json())).collect())
    }
}

fn read_jsonl(path: &PathBuf) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As the binary does, so that the server in this process is the one users run.
    memory_server::allocator::tune();
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut data = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/bench-data/locomo-dev"
    ));
    let mut store = "sqlite".to_owned();
    let mut modes: Vec<String> = Vec::new();
    let mut out: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--store" => store = args.next().context("--store needs a value")?,
            "--mode" => modes.push(args.next().context("--mode needs a value")?),
            "--out" => out = Some(args.next().context("--out needs a value")?.into()),
            other if !other.starts_with("--") => data = other.into(),
            other => bail!("unknown argument {other}"),
        }
    }
    if modes.is_empty() {
        modes.push(String::new()); // the server's default
    }
    let messages: Vec<Msg> = read_jsonl(&data.join("messages.jsonl"))?
        .into_iter()
        .map(|v| Msg {
            id: v["message_id"].as_str().unwrap_or_default().to_owned(),
            conversation: v["conversation_id"].as_str().unwrap_or_default().to_owned(),
            content: v["content"].as_str().unwrap_or_default().to_owned(),
            line: v,
        })
        .collect();
    let queries: Vec<Query> = read_jsonl(&data.join("queries.jsonl"))?
        .into_iter()
        .map(|v| Query {
            conversation: v["conversation_id"].as_str().unwrap_or_default().to_owned(),
            text: v["query"].as_str().unwrap_or_default().to_owned(),
            evidence: v["evidence"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            category: v["category"].as_i64().unwrap_or(0),
        })
        .collect();
    eprintln!(
        "{} messages, {} queries from {}",
        messages.len(),
        queries.len(),
        data.display()
    );

    let mut settings = Settings::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    settings.port = 0;
    settings.api_keys = String::new().into();
    settings.global_rate_limit = "1000000/second".into();
    settings.retention_schedule_seconds = 0;
    settings.log_level = "warn".into();
    let dir = std::env::temp_dir().join(format!("memory-recall-{}", std::process::id()));
    // Postgres: a fresh database on the server at MEMORY_TEST_DATABASE_URL (or the project's
    // own, started by scripts/pg.sh), dropped at the end.
    let mut pg_database = None;
    settings.database_url = match store.as_str() {
        "sqlite" => format!("sqlite://{}/bench.db", dir.display()),
        "postgres" => {
            let db = memory_store_postgres::testkit::TestDatabase::create().await?;
            let url = db.url.clone();
            pg_database = Some(db);
            url
        }
        other => bail!("unknown store {other}"),
    };
    let embedder: Arc<dyn Embedder> = memory_server::adapters::embedder(&settings).await?;
    let store_adapter =
        memory_server::adapters::store(&settings, embedder.dimension(), &embedder.model_id())
            .await?;
    let app = Application::build_with(settings, store_adapter, embedder.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    // Import, 8 requests in flight, each conversation under its own tenant for the run so
    // repeated runs against one Postgres never mix.
    let run_tag = format!("locomo-{}", uuid::Uuid::now_v7().simple());
    let started = Instant::now();
    let mut id_map: HashMap<String, String> = HashMap::new();
    for chunk in messages.chunks(8) {
        let futs = chunk.iter().map(|m| {
            let mut body = m.line.clone();
            body["tenant_id"] = json!(run_tag);
            if let Some(o) = body.as_object_mut() {
                o.remove("message_id");
            }
            let client = client.clone();
            let url = format!("{base}/v1/messages");
            async move {
                let r = client.post(url).json(&body).send().await?;
                let status = r.status();
                let v: Value = r.json().await?;
                anyhow::ensure!(status.as_u16() == 202, "import failed: {status} {v}");
                Ok::<_, anyhow::Error>((
                    v["id"].as_str().unwrap_or_default().to_owned(),
                    m.id.clone(),
                ))
            }
        });
        for r in futures::future::join_all(futs).await {
            let (server_id, locomo_id) = r?;
            id_map.insert(server_id, locomo_id);
        }
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "imported {} messages in {ingest_secs:.1}s ({:.0}/s)",
        messages.len(),
        messages.len() as f64 / ingest_secs
    );

    // "Nothing relevant": each question is also asked of the next conversation.
    let mut conversations: Vec<&str> = queries.iter().map(|q| q.conversation.as_str()).collect();
    conversations.sort_unstable();
    conversations.dedup();
    let other_conversation = |c: &str| {
        let at = conversations.iter().position(|x| *x == c).unwrap_or(0);
        conversations[(at + 1) % conversations.len()]
    };

    let mut results = serde_json::Map::new();
    for mode in &modes {
        let mut report = Report::default();
        let mut separation = Separation::default();
        let mut latencies = Vec::new();
        for q in &queries {
            let mut params = vec![
                ("tenant_id", run_tag.clone()),
                ("conversation_id", q.conversation.clone()),
                ("query", q.text.clone()),
                ("top_k", "10".into()),
            ];
            if !mode.is_empty() {
                params.push(("mode", mode.clone()));
            }
            let t = Instant::now();
            let r = client
                .get(format!("{base}/v1/memory/search"))
                .query(&params)
                .send()
                .await?;
            let status = r.status();
            let v: Value = r.json().await?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(status.is_success(), "search failed: {status} {v}");
            let ranked: Vec<String> = v["items"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|i| id_map.get(i["message_id"].as_str()?).cloned())
                        .collect()
                })
                .unwrap_or_default();
            report.add(q.category, &ranked, &q.evidence);

            let ask = |conversation: &str, min_relevance: Option<&str>| {
                let mut params = params.clone();
                params[1].1 = conversation.to_owned();
                if let Some(m) = min_relevance {
                    params.push(("min_relevance", m.to_owned()));
                }
                let request = client
                    .get(format!("{base}/v1/memory/search"))
                    .query(&params);
                async move {
                    let r = request.send().await?;
                    anyhow::ensure!(r.status().is_success(), "search failed: {}", r.status());
                    Ok::<Value, anyhow::Error>(r.json().await?)
                }
            };
            let other = other_conversation(&q.conversation);
            let evidence: HashSet<&String> = q.evidence.iter().collect();
            let is_evidence = |id: &str| id_map.get(id).is_some_and(|l| evidence.contains(l));
            separation.own(&ask(&q.conversation, Some("0")).await?, &v, is_evidence);
            separation.other(&ask(other, Some("0")).await?, &ask(other, None).await?);
        }
        latencies.sort_by(f64::total_cmp);
        let name = if mode.is_empty() {
            "service (default mode)".to_owned()
        } else {
            format!("service mode={mode}")
        };
        let separation = separation.json();
        eprintln!("{name}: {}", report.json()["all"]);
        eprintln!("{name}, nothing relevant: {separation}");
        results.insert(name, json!({"scores": report.json(), "search_ms_p50": percentile(&latencies, 0.5), "search_ms_p99": percentile(&latencies, 0.99), "nothing_relevant": separation}));
    }

    // Baselines outside the service, per conversation.
    let by_conv: HashMap<&str, Vec<&Msg>> = messages.iter().fold(HashMap::new(), |mut m, msg| {
        m.entry(msg.conversation.as_str()).or_default().push(msg);
        m
    });
    let mut bm25 = Report::default();
    for q in &queries {
        let docs = by_conv
            .get(q.conversation.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        bm25.add(q.category, &bm25_rank(docs, &q.text), &q.evidence);
    }
    results.insert(
        "baseline BM25 (stopwords removed)".into(),
        json!({"scores": bm25.json()}),
    );
    let texts: Vec<String> = messages.iter().map(|m| m.content.clone()).collect();
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(64) {
        vectors.extend(embedder.embed(chunk).await?);
    }
    let vec_of: HashMap<&str, &memory_core::domain::Embedding> = messages
        .iter()
        .map(|m| m.id.as_str())
        .zip(vectors.iter())
        .collect();
    let mut dense = Report::default();
    for q in &queries {
        let qv = embedder
            .embed(std::slice::from_ref(&q.text))
            .await?
            .remove(0);
        let mut scored: Vec<(f32, &str)> = by_conv
            .get(q.conversation.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|m| (vec_of[m.id.as_str()].cosine(&qv), m.id.as_str()))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let ranked: Vec<String> = scored
            .into_iter()
            .take(10)
            .map(|(_, id)| id.to_owned())
            .collect();
        dense.add(q.category, &ranked, &q.evidence);
    }
    results.insert(
        "baseline dense cosine (exact)".into(),
        json!({"scores": dense.json()}),
    );

    let summary = json!({
        "store": store,
        "messages": messages.len(),
        "queries": queries.len(),
        "ingest_messages_per_s": messages.len() as f64 / ingest_secs,
        "results": results,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    println!(
        "\n| ranking | subset | n | R@1 | R@5 | R@10 | MRR@10 | search p50 / p99 (ms) |\n|---|---|---|---|---|---|---|---|"
    );
    for (name, r) in &results {
        let latency = match (r["search_ms_p50"].as_f64(), r["search_ms_p99"].as_f64()) {
            (Some(p50), Some(p99)) => format!("{p50:.1} / {p99:.1}"),
            _ => String::new(),
        };
        if let Some(scores) = r["scores"].as_object() {
            for (subset, s) in scores {
                let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
                let label = if subset == "all" { name.as_str() } else { "" };
                let lat = if subset == "all" {
                    latency.as_str()
                } else {
                    ""
                };
                println!(
                    "| {label} | {subset} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {lat} |",
                    s["n"],
                    f("r@1"),
                    f("r@5"),
                    f("r@10"),
                    f("mrr@10")
                );
            }
        }
    }
    println!(
        "\n| nothing relevant | AUC top relevance | AUC top score | median top relevance, own / other | min_relevance | answerable kept | unanswerable empty |\n|---|---|---|---|---|---|---|"
    );
    for (name, r) in &results {
        let s = &r["nothing_relevant"];
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        if s.is_object() {
            println!(
                "| {name} | {:.3} | {:.3} | {:.3} / {:.3} | {} | {:.3} | {:.3} |",
                f("auc_top_relevance"),
                f("auc_top_score"),
                f("median_top_relevance_own"),
                f("median_top_relevance_other"),
                f("min_relevance"),
                f("answerable_kept"),
                f("unanswerable_empty"),
            );
        }
    }
    for (name, r) in &results {
        let Some(curve) = r["nothing_relevant"]["curve"].as_array() else {
            continue;
        };
        println!(
            "\n{name}: relevance | top result, own / other conversation | results that are evidence\n|---|---|---|"
        );
        for b in curve {
            let results = b["results"].as_u64().unwrap_or(0);
            let evidence = b["results_evidence"].as_u64().unwrap_or(0);
            println!(
                "| {} | {} / {} | {evidence} of {results} |",
                b["relevance"].as_str().unwrap_or_default(),
                b["top_own"],
                b["top_other"],
            );
        }
    }
    if let Some(out) = out {
        std::fs::write(&out, serde_json::to_string_pretty(&summary)?)?;
    }
    server.abort();
    drop(pg_database);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
