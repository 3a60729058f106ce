//! Overload test (issue 8): the real binary at 10x its rate limit and beyond the embedder.
//!
//! ```text
//! cargo bench -p memory-server --bench overload -- [--secs N] [--embed-rate R] [--words W]
//!     [--queue-capacity N] [--scenario NAME]... [--out FILE]
//! ```
//!
//! `--out` writes the results as JSON (a relative path is taken from the workspace root).
//!
//! Each scenario starts a fresh `memory-server` process (the bench-profile build of the real
//! binary, the embedded SQLite store in a temp dir, the real model) and drives it open loop:
//! every client sends at a fixed rate whatever the answers, so a slow server meets more
//! requests, not fewer. Clients are told apart by source address (127.0.0.x: the server
//! limits per client IP) and by API key.
//!
//! - `rate-one-ip`: one address, one key, 100 requests/s against a limit of 10/second.
//! - `rate-many-keys`: 8 addresses with 8 keys, each at 100/s against its own limit of 10/s.
//! - `rate-shared-key`: 8 addresses sharing one key, 100/s in all against that key's 10/s.
//! - `embedder`: no effective rate limit; `--embed-rate` requests/s (default 250), 80%
//!   ingests of `--words`-word texts (default 150) and 20% searches, from 16 addresses:
//!   beyond what the embedder can do, so its bounded queue fills. `--queue-capacity` sets
//!   the server's `MEMORY_EMBEDDING_QUEUE_CAPACITY` (default: the server's, 1024 texts).
//! - `tenant-flood`: one tenant (`flood`) ingests at `--embed-rate` from 16 addresses, all
//!   writes, while another (`steady`) searches at 10 requests/s from 2 addresses: the steady
//!   tenant's searches must not wait behind the other's import.
//!
//! The rate scenarios send half ingests (short texts) and half searches. For every scenario
//! it reports the count of each status (0: no HTTP answer), whether every 429 and 503
//! carried Retry-After, the 5xx other than 503 (a failure, 504 included), p50/p99 latency of
//! the admitted (2xx) requests, ingests and searches apart and per tenant, measured from each
//! request's scheduled start (so a stalled generator or server counts against the figures),
//! the embedding status of admitted ingests, how long after the load the catch-up worker took
//! to embed every pending message (at most 120 s), the server's resident memory (sampled
//! every 100 ms: baseline, peak in each half of the run, kernel high-water mark), panics in
//! its log, and whether it still answers its health check. Exits non-zero if any check fails.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const RATE_LIMIT: &str = "10/second";
const RATE_PER_SECOND: f64 = 10.0;
const KEYS: usize = 16;
const TENANT: &str = "overload";
/// How long the catch-up worker may take to embed what the load left pending.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(120);
/// Client-side bound on one request; far above the server's own 15 s timeout.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

const WORDS: &[&str] = &[
    "memory",
    "python",
    "travel",
    "garden",
    "coffee",
    "meeting",
    "project",
    "deadline",
    "music",
    "concert",
    "weekend",
    "family",
    "dinner",
    "recipe",
    "running",
    "marathon",
    "budget",
    "invoice",
    "holiday",
    "flight",
    "hotel",
    "museum",
    "painting",
    "novel",
    "chapter",
    "teacher",
    "lesson",
    "guitar",
    "piano",
    "doctor",
    "appointment",
    "birthday",
    "present",
    "market",
    "vegetables",
    "weather",
    "rain",
    "mountain",
    "river",
    "bicycle",
    "train",
    "station",
    "office",
    "colleague",
    "manager",
    "review",
    "release",
    "database",
    "server",
    "network",
    "kitchen",
    "puppy",
    "school",
    "exam",
    "summer",
    "winter",
    "friend",
    "language",
    "spanish",
    "camera",
    "photo",
    "beach",
];

/// A tiny deterministic generator, so runs send the same texts.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }

    fn text(&mut self, words: usize) -> String {
        let mut s = String::from("I told you that");
        for _ in 0..words.saturating_sub(4) {
            s.push(' ');
            s.push_str(WORDS[self.next() % WORDS.len()]);
        }
        s.push('.');
        s
    }
}

struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start(dir: &Path, rate_limit: &str, queue: Option<usize>) -> anyhow::Result<Server> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let log = dir.join("server.log");
    let keys: Vec<String> = (0..KEYS).map(|i| format!("overload-key-{i}")).collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_memory-server"));
    if let Some(q) = queue {
        command.env("MEMORY_EMBEDDING_QUEUE_CAPACITY", q.to_string());
    }
    let child = command
        .arg("serve")
        .env(
            "MEMORY_DATABASE_URL",
            format!("sqlite://{}/overload.db", dir.display()),
        )
        .env("MEMORY_PORT", port.to_string())
        .env("MEMORY_HOST", "127.0.0.1")
        .env("MEMORY_GLOBAL_RATE_LIMIT", rate_limit)
        .env("MEMORY_API_KEYS", keys.join(","))
        .env("MEMORY_RETENTION_SCHEDULE_SECONDS", "0")
        .env("MEMORY_LOG_LEVEL", "warn")
        .env("MEMORY_LOG_FORMAT", "text")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("start memory-server")?;
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client
            .get(format!("{}/v1/admin/health", server.base))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(server);
        }
        if Instant::now() > deadline {
            bail!(
                "the server did not come up within 120 s; see {}",
                server.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Resident memory of `pid` in KiB: (VmRSS, VmHWM).
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Ingest,
    Search,
}

struct Outcome {
    tenant: &'static str,
    kind: Kind,
    /// 0: no HTTP answer (connection error or client timeout).
    status: u16,
    retry_after: Option<String>,
    latency_ms: f64,
    embedding_status: Option<String>,
}

struct ClientSpec {
    http: reqwest::Client,
    key: String,
    /// Requests per second from this client.
    rate: f64,
    tenant: &'static str,
    /// The share of its requests that are ingests (the rest are searches).
    ingest_share: f64,
}

struct Scenario {
    name: &'static str,
    rate_limit: String,
    clients: Vec<ClientSpec>,
    words: usize,
    /// Buckets the limiter keeps for these clients, for the expected admitted count.
    buckets: usize,
}

fn client_from(ip: IpAddr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(ip)
        .timeout(CLIENT_TIMEOUT)
        .pool_max_idle_per_host(256)
        .build()?)
}

fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, u8::try_from(i + 1).unwrap_or(255)))
}

fn key(i: usize) -> String {
    format!("overload-key-{i}")
}

fn scenario(name: &str, embed_rate: f64, words: usize) -> anyhow::Result<Scenario> {
    let clients = |from: usize,
                   n: usize,
                   rate: f64,
                   shared_key: bool,
                   tenant: &'static str,
                   ingest_share: f64|
     -> anyhow::Result<Vec<ClientSpec>> {
        (from..from + n)
            .map(|i| {
                Ok(ClientSpec {
                    http: client_from(addr(i))?,
                    key: key(if shared_key { 0 } else { i }),
                    rate,
                    tenant,
                    ingest_share,
                })
            })
            .collect()
    };
    let per_ip =
        |n: usize, rate: f64, shared_key: bool| clients(0, n, rate, shared_key, TENANT, 0.5);
    Ok(match name {
        "rate-one-ip" => Scenario {
            name: "rate-one-ip",
            rate_limit: RATE_LIMIT.into(),
            clients: per_ip(1, 10.0 * RATE_PER_SECOND, false)?,
            words: 12,
            buckets: 1,
        },
        "rate-many-keys" => Scenario {
            name: "rate-many-keys",
            rate_limit: RATE_LIMIT.into(),
            clients: per_ip(8, 10.0 * RATE_PER_SECOND, false)?,
            words: 12,
            buckets: 8,
        },
        "rate-shared-key" => Scenario {
            name: "rate-shared-key",
            rate_limit: RATE_LIMIT.into(),
            clients: per_ip(8, 10.0 * RATE_PER_SECOND / 8.0, true)?,
            words: 12,
            buckets: 1,
        },
        "embedder" => Scenario {
            name: "embedder",
            rate_limit: "1000000/second".into(),
            clients: clients(0, 16, embed_rate / 16.0, false, TENANT, 0.8)?,
            words,
            buckets: 0,
        },
        "tenant-flood" => Scenario {
            name: "tenant-flood",
            rate_limit: "1000000/second".into(),
            clients: {
                let mut c = clients(0, 14, embed_rate / 14.0, false, "flood", 1.0)?;
                c.extend(clients(14, 2, 5.0, false, "steady", 0.0)?);
                c
            },
            words,
            buckets: 0,
        },
        other => bail!("unknown scenario {other}"),
    })
}

async fn one(
    client: &ClientSpec,
    base: &str,
    kind: Kind,
    text: String,
    conversation: usize,
) -> (u16, Option<String>, Option<String>) {
    let req = match kind {
        Kind::Ingest => client
            .http
            .post(format!("{base}/v1/messages"))
            .json(&json!({
                "tenant_id": client.tenant,
                "conversation_id": format!("conv-{conversation}"),
                "role": "user",
                "content": text,
            })),
        Kind::Search => client.http.get(format!("{base}/v1/memory/search")).query(&[
            ("tenant_id", client.tenant),
            ("query", text.as_str()),
            ("top_k", "5"),
        ]),
    };
    match req.header("x-api-key", &client.key).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let embedding = (kind == Kind::Ingest && status == 202)
                .then(|| body["embedding_status"].as_str().map(str::to_owned))
                .flatten();
            (status, retry, embedding)
        }
        Err(e) => {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("  request failed without an answer: {why}");
            (0, None, None)
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    Some(sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
}

async fn run(s: Scenario, secs: u64, queue: Option<usize>, work: &Path) -> anyhow::Result<Value> {
    let dir = work.join(s.name);
    let _ = std::fs::remove_dir_all(&dir);
    let server = Arc::new(start(&dir, &s.rate_limit, queue).await?);
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (baseline_kib, start_hwm_kib) = rss_kib(pid).unwrap_or_default();
    let offered: f64 = s.clients.iter().map(|c| c.rate).sum();
    eprintln!(
        "{}: {} clients, {offered:.0} requests/s for {secs} s, limit {}",
        s.name,
        s.clients.len(),
        s.rate_limit
    );

    // Memory sampler: peak VmRSS in each half of the run, plus the drain afterwards.
    let stop = Arc::new(AtomicBool::new(false));
    let half = Duration::from_secs_f64(secs as f64 / 2.0);
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut peaks = [0u64; 3];
            let mut series = Vec::new();
            let mut last_series = Instant::now() - Duration::from_secs(10);
            while !stop.load(Ordering::Relaxed) {
                if let Some((rss, _)) = rss_kib(pid) {
                    let t = started.elapsed();
                    let slot = match t {
                        t if t < half => 0,
                        t if t < 2 * half => 1,
                        _ => 2,
                    };
                    peaks[slot] = peaks[slot].max(rss);
                    if last_series.elapsed() >= Duration::from_secs(5) {
                        last_series = Instant::now();
                        series.push(json!([t.as_secs_f64().round(), rss / 1024]));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (peaks, series)
        })
    };

    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let max_lag_us = Arc::new(AtomicU64::new(0));
    let clients: Vec<Arc<ClientSpec>> = s.clients.into_iter().map(Arc::new).collect();
    let started = Instant::now() + Duration::from_millis(50);
    let end = started + Duration::from_secs(secs);
    let mut drivers = Vec::new();
    for (ci, client) in clients.iter().enumerate() {
        let client = client.clone();
        let tx = tx.clone();
        let server = server.clone();
        let (in_flight, max_in_flight, max_lag_us) =
            (in_flight.clone(), max_in_flight.clone(), max_lag_us.clone());
        let (ingest_share, words) = (client.ingest_share, s.words);
        drivers.push(tokio::spawn(async move {
            let mut rng = Lcg(ci as u64 + 1);
            let period = Duration::from_secs_f64(1.0 / client.rate);
            // Clients start a fraction of a period apart, not all at once.
            let mut at = started + period.mul_f64(ci as f64 / 16.0 % 1.0);
            let mut n = 0usize;
            while at < end {
                tokio::time::sleep_until(at.into()).await;
                let lag = at.elapsed().as_micros() as u64;
                max_lag_us.fetch_max(lag, Ordering::Relaxed);
                let kind = if (rng.next() % 1000) as f64 / 1000.0 < ingest_share {
                    Kind::Ingest
                } else {
                    Kind::Search
                };
                let text = match kind {
                    Kind::Ingest => rng.text(words),
                    Kind::Search => rng.text(6),
                };
                let conversation = ci * 1000 + n % 50;
                let (client, server, tx) = (client.clone(), server.clone(), tx.clone());
                let (in_flight, max_in_flight) = (in_flight.clone(), max_in_flight.clone());
                let scheduled = at;
                tokio::spawn(async move {
                    let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                    max_in_flight.fetch_max(now, Ordering::Relaxed);
                    let (status, retry_after, embedding_status) =
                        one(&client, &server.base, kind, text, conversation).await;
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    let _ = tx.send(Outcome {
                        tenant: client.tenant,
                        kind,
                        status,
                        retry_after,
                        latency_ms: scheduled.elapsed().as_secs_f64() * 1000.0,
                        embedding_status,
                    });
                });
                n += 1;
                at += period;
            }
        }));
    }
    drop(tx);
    for d in drivers {
        d.await?;
    }
    let load_end = Instant::now();
    let sent_secs = started.elapsed().as_secs_f64();
    let mut outcomes = Vec::new();
    while let Some(o) = rx.recv().await {
        outcomes.push(o);
    }
    let drain_secs = started.elapsed().as_secs_f64() - sent_secs;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let (peaks, series) = sampler.await?;
    let (end_rss, hwm) = rss_kib(pid).unwrap_or_default();
    let healthy = reqwest::Client::new()
        .get(format!("{}/v1/admin/health", server.base))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    // The catch-up worker embeds what the load left pending: how long after the load
    // stopped until nothing is.
    let tenants: std::collections::BTreeSet<&str> = clients.iter().map(|c| c.tenant).collect();
    let catch_up_started = Instant::now();
    let mut pending_at_end;
    let caught_up_s = loop {
        let mut total = 0u64;
        for t in &tenants {
            let r: Value = reqwest::Client::new()
                .get(format!("{}/v1/memory/search", server.base))
                .query(&[("tenant_id", *t), ("query", "memory"), ("mode", "lexical")])
                .header("x-api-key", key(0))
                .send()
                .await?
                .json()
                .await?;
            total += r["pending_embeddings"].as_u64().unwrap_or(u64::MAX / 4);
        }
        pending_at_end = total;
        if total == 0 {
            break Some(load_end.elapsed().as_secs_f64());
        }
        if catch_up_started.elapsed() > CATCH_UP_LIMIT {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    let panics = log.matches("panicked").count();
    let error_lines = log.lines().filter(|l| l.contains("ERROR")).count();
    // Distinct error and warning lines, timestamps and colours stripped, with their counts.
    let mut error_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for line in log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
    {
        let mut plain = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| c.is_ascii_alphabetic());
            } else {
                plain.push(c);
            }
        }
        let plain = plain.split_once("Z ").map_or(plain.as_str(), |p| p.1);
        let plain: String = plain.trim().chars().take(200).collect();
        *error_kinds.entry(plain).or_default() += 1;
    }
    drop(server);

    // Tallies.
    let mut by_status: BTreeMap<String, BTreeMap<u16, usize>> = BTreeMap::new();
    let mut embedding: BTreeMap<String, usize> = BTreeMap::new();
    let mut throttled = 0usize;
    let mut throttled_with_retry = 0usize;
    let mut retry_values: BTreeMap<String, usize> = BTreeMap::new();
    let mut other_5xx = 0usize;
    let mut no_answer = 0usize;
    let mut admitted: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for o in &outcomes {
        let kind = match o.kind {
            Kind::Ingest => "ingest",
            Kind::Search => "search",
        };
        *by_status
            .entry(kind.into())
            .or_default()
            .entry(o.status)
            .or_default() += 1;
        match o.status {
            0 => no_answer += 1,
            429 | 503 => {
                throttled += 1;
                if let Some(v) = &o.retry_after
                    && v.parse::<u64>().is_ok_and(|s| s >= 1)
                {
                    throttled_with_retry += 1;
                    *retry_values.entry(format!("{} {v}", o.status)).or_default() += 1;
                }
            }
            s if s >= 500 => other_5xx += 1,
            s if (200..300).contains(&s) => {
                admitted.entry(kind.into()).or_default().push(o.latency_ms);
                admitted.entry("all".into()).or_default().push(o.latency_ms);
                if o.tenant != TENANT {
                    admitted
                        .entry(format!("{}/{kind}", o.tenant))
                        .or_default()
                        .push(o.latency_ms);
                }
                if let Some(e) = &o.embedding_status {
                    *embedding.entry(e.clone()).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    let mut latency = serde_json::Map::new();
    for (k, v) in &mut admitted {
        v.sort_by(f64::total_cmp);
        latency.insert(
            k.clone(),
            json!({"n": v.len(), "p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99), "max_ms": v.last()}),
        );
    }
    let admitted_n = admitted.get("all").map_or(0, Vec::len);
    // GCRA with a burst of N: at most N + rate * seconds per bucket (+1 for edge timing).
    let admitted_max = (s.buckets > 0)
        .then(|| s.buckets as f64 * (RATE_PER_SECOND + RATE_PER_SECOND * sent_secs.ceil() + 1.0));
    let limiter_ok = admitted_max.is_none_or(|m| admitted_n as f64 <= m);
    let peak_kib = peaks.iter().copied().max().unwrap_or(0);
    let pass = other_5xx == 0
        && caught_up_s.is_some()
        && no_answer == 0
        && throttled == throttled_with_retry
        && panics == 0
        && healthy
        && limiter_ok;
    let result = json!({
        "scenario": s.name,
        "rate_limit": s.rate_limit,
        "embedding_queue_capacity": queue.map_or_else(|| json!("default"), |q| json!(q)),
        "clients": clients.len(),
        "offered_per_s": offered,
        "seconds": secs,
        "requests": outcomes.len(),
        "sent_in_s": sent_secs,
        "drained_in_s": drain_secs,
        "generator_max_lag_ms": max_lag_us.load(Ordering::Relaxed) as f64 / 1000.0,
        "max_in_flight": max_in_flight.load(Ordering::Relaxed),
        "status": by_status,
        "admitted": admitted_n,
        "admitted_max_expected": admitted_max,
        "admitted_latency": latency,
        "ingest_embedding_status": embedding,
        "pending_embedded_after_load_s": caught_up_s,
        "pending_left": pending_at_end,
        "throttled_429_503": throttled,
        "throttled_with_retry_after": throttled_with_retry,
        "retry_after_values": retry_values,
        "other_5xx": other_5xx,
        "no_answer": no_answer,
        "rss_mib": {
            "baseline": baseline_kib / 1024,
            "peak_first_half": peaks[0] / 1024,
            "peak_second_half": peaks[1] / 1024,
            "peak_drain": peaks[2] / 1024,
            "peak": peak_kib / 1024,
            "end": end_rss / 1024,
            "hwm": hwm / 1024,
            "hwm_at_start": start_hwm_kib / 1024,
            "series_s_mib": series,
        },
        "server_panics": panics,
        "server_error_log_lines": error_lines,
        "server_log_errors_warnings": error_kinds,
        "healthy_after": healthy,
        "pass": pass,
    });
    eprintln!("{}", serde_json::to_string(&result)?);
    Ok(result)
}

fn fmt_ms(v: &Value) -> String {
    match (v["p50_ms"].as_f64(), v["p99_ms"].as_f64()) {
        (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
        _ => "-".into(),
    }
}

fn print_table(results: &[Value]) {
    print_main_table(results);
    println!("\n| scenario | latency of | admitted | p50 / p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for r in results {
        for (k, v) in r["admitted_latency"].as_object().into_iter().flatten() {
            println!(
                "| {} | {k} | {} | {} | {:.0} |",
                r["scenario"].as_str().unwrap_or_default(),
                v["n"],
                fmt_ms(v),
                v["max_ms"].as_f64().unwrap_or(0.0)
            );
        }
        println!(
            "| {} | pending embedded after the load | {} left | {} s | |",
            r["scenario"].as_str().unwrap_or_default(),
            r["pending_left"],
            r["pending_embedded_after_load_s"]
                .as_f64()
                .map_or("not within 120".into(), |s| format!("{s:.1}"))
        );
    }
}

fn print_main_table(results: &[Value]) {
    println!(
        "\n| scenario | offered/s | requests | 2xx | 429 | 503 | other 5xx / no answer | Retry-After on 429+503 | admitted p50 / p99 ms (ingest; search) | ingest embedding | RSS MiB base / peak 1st half / 2nd half / HWM | pass |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let count = |pred: &dyn Fn(u64) -> bool| -> u64 {
            r["status"]
                .as_object()
                .into_iter()
                .flat_map(|k| k.values())
                .filter_map(Value::as_object)
                .flat_map(|m| m.iter())
                .filter(|(s, _)| s.parse::<u64>().is_ok_and(pred))
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        };
        let lat = &r["admitted_latency"];
        let emb = r["ingest_embedding_status"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let m = &r["rss_mib"];
        println!(
            "| {} | {} | {} | {} | {} | {} | {} / {} | {} of {} | {}; {} | {} | {} / {} / {} / {} | {} |",
            r["scenario"].as_str().unwrap_or_default(),
            r["offered_per_s"],
            r["requests"],
            count(&|s| (200..300).contains(&s)),
            count(&|s| s == 429),
            count(&|s| s == 503),
            r["other_5xx"],
            r["no_answer"],
            r["throttled_with_retry_after"],
            r["throttled_429_503"],
            fmt_ms(&lat["ingest"]),
            fmt_ms(&lat["search"]),
            emb,
            m["baseline"],
            m["peak_first_half"],
            m["peak_second_half"],
            m["hwm"],
            if r["pass"].as_bool() == Some(true) {
                "yes"
            } else {
                "NO"
            },
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As the binary does, so that the server in this process is the one users run.
    memory_server::allocator::tune();
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut secs = 30u64;
    let mut embed_rate = 250.0f64;
    let mut words = 150usize;
    let mut queue: Option<usize> = None;
    let mut names: Vec<String> = Vec::new();
    let mut out: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().with_context(|| format!("{what} needs a value"));
        match a.as_str() {
            "--secs" => secs = value("--secs")?.parse()?,
            "--embed-rate" => embed_rate = value("--embed-rate")?.parse()?,
            "--words" => words = value("--words")?.parse()?,
            "--queue-capacity" => queue = Some(value("--queue-capacity")?.parse()?),
            "--scenario" => names.push(value("--scenario")?),
            "--out" => out = Some(value("--out")?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    if names.is_empty() {
        names = [
            "rate-one-ip",
            "rate-many-keys",
            "rate-shared-key",
            "embedder",
            "tenant-flood",
        ]
        .map(String::from)
        .into();
    }
    let work = std::env::temp_dir().join(format!("memory-overload-{}", std::process::id()));
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut results = Vec::new();
    for name in &names {
        results.push(run(scenario(name, embed_rate, words)?, secs, queue, &work).await?);
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    print_table(&results);
    println!(
        "\nload average before: {} after: {}",
        load_before.trim(),
        load_after.trim()
    );
    let pass = results.iter().all(|r| r["pass"].as_bool() == Some(true));
    if pass {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        eprintln!("server logs and stores kept in {}", work.display());
    }
    let summary = json!({
        "cores": std::thread::available_parallelism().map_or(0, usize::from),
        "loadavg_before": load_before.trim(),
        "loadavg_after": load_after.trim(),
        "scenarios": results,
        "pass": pass,
    });
    if let Some(out) = out {
        // cargo runs benches in the package's directory: a relative path is taken from the
        // workspace root instead, where the command was most likely typed.
        let out = if out.is_relative() {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(out)
        } else {
            out
        };
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&out, serde_json::to_string_pretty(&summary)?)?;
        eprintln!("wrote {}", out.display());
    }
    if !pass {
        bail!("overload checks failed (see the table)");
    }
    Ok(())
}
