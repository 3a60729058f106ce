//! [`CandleEmbedder`]: the async [`Embedder`] over a [`SentenceEncoder`] running on a worker
//! thread of its own, with dynamic micro-batching and priority lanes.
//!
//! Every `embed_for` call becomes jobs of at most one forward pass each (`max_batch_size`
//! texts, the byte budget: halved while queries arrive, see [`crate::lanes::pass_budget_now`])
//! in the [`Lanes`] of its [`EmbedPurpose`]: queries, ingest (per tenant, served in turn),
//! backlog. The queue is bounded in texts (a semaphore of `queue_capacity` permits,
//! taken with `try_acquire`: a full queue is an immediate [`EmbedderError::Overloaded`]), and
//! a call that would wait longer than its lane's bound behind the work ahead of it is refused
//! at once too. The worker takes the first job in priority order, adds whatever else fits in
//! one pass (waiting at most `max_wait` for more), and runs them together. Between the layers
//! of an ingest or backlog pass it runs the queries that have arrived meanwhile, then goes on.
//! So a query waits for at most one layer of the pass in progress and its own pass, whatever
//! ingest has queued. Each caller gets its own vectors back through a oneshot channel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use memory_core::domain::Embedding;
use memory_core::error::EmbedderError;
use memory_core::ports::{EmbedPurpose, Embedder};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::config::EmbedderConfig;
use crate::encoder::SentenceEncoder;
use crate::error::{EmbedError, Result};
use crate::lanes::{Cost, Lanes, pass_budget_now};

/// A batch's error is shared by every job in it.
type Reply = std::result::Result<Vec<Vec<f32>>, Arc<EmbedError>>;

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Reply>,
    /// Released when the job is done: the queue bound counts texts until they are embedded.
    _permit: OwnedSemaphorePermit,
}

/// Counters of the worker's activity (for metrics and tests).
#[derive(Debug, Default)]
pub struct EmbedderStats {
    batches: AtomicU64,
    texts: AtomicU64,
    abandoned: AtomicU64,
    cut_in: AtomicU64,
    /// Moving average of the worker's time per text, in nanoseconds (0: not measured yet).
    nanos_per_text: AtomicU64,
    /// The same per byte of text.
    nanos_per_byte: AtomicU64,
}

impl EmbedderStats {
    /// Coalesced groups of jobs the worker ran (each one or more forward passes).
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
    /// Texts embedded.
    pub fn texts(&self) -> u64 {
        self.texts.load(Ordering::Relaxed)
    }
    /// Texts skipped because their caller had stopped waiting (timed out or cancelled)
    /// before the worker reached them.
    pub fn abandoned(&self) -> u64 {
        self.abandoned.load(Ordering::Relaxed)
    }
    /// Query passes run between the layers of an ingest or backlog pass, which then went on.
    pub fn cut_in(&self) -> u64 {
        self.cut_in.load(Ordering::Relaxed)
    }
    /// The worker's recent time per text (a moving average; zero before the first batch).
    pub fn time_per_text(&self) -> Duration {
        Duration::from_nanos(self.nanos_per_text.load(Ordering::Relaxed))
    }

    /// The worker's recent time per byte of text (zero before the first batch).
    pub fn time_per_byte(&self) -> Duration {
        Duration::from_nanos(self.nanos_per_byte.load(Ordering::Relaxed))
    }

    fn record_speed(&self, elapsed: Duration, cost: Cost) {
        // One writer (the worker thread): a plain load and store is enough.
        let average = |avg: &AtomicU64, n: usize| {
            let sample = u64::try_from(elapsed.as_nanos() / n.max(1) as u128).unwrap_or(u64::MAX);
            let old = avg.load(Ordering::Relaxed);
            let new = if old == 0 {
                sample
            } else {
                (old / 5) * 4 + sample / 5
            };
            avg.store(new.max(1), Ordering::Relaxed);
        };
        average(&self.nanos_per_text, cost.texts);
        average(&self.nanos_per_byte, cost.bytes);
    }

    /// How long the worker needs for `cost`, from its recent speed (zero before it has one).
    fn estimate(&self, cost: Cost) -> Duration {
        let by_text = self.time_per_text() * u32::try_from(cost.texts).unwrap_or(u32::MAX);
        let by_byte = self.time_per_byte() * u32::try_from(cost.bytes).unwrap_or(u32::MAX);
        by_text.max(by_byte)
    }
}

/// The production [`Embedder`]: a sentence-transformers BERT model on candle.
///
/// Inference runs on a dedicated thread (and its own thread pool when `threads` is set), never
/// on the async executor. Dropping the embedder stops the worker once its queue is drained.
#[derive(Debug)]
pub struct CandleEmbedder {
    model_id: String,
    dimension: usize,
    queue_capacity: usize,
    pass_budget: Cost,
    max_queue_wait: Duration,
    max_ingest_wait: Duration,
    queue: Arc<Queue>,
    permits: Arc<Semaphore>,
    stats: Arc<EmbedderStats>,
}

/// The lanes, shared by the callers and the worker.
#[derive(Debug, Default)]
struct Queue {
    lanes: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    lanes: Lanes<Job>,
    /// When a query was last queued: while searches arrive, passes are shorter.
    last_query: Option<Instant>,
    /// The embedder was dropped: the worker stops once the lanes are empty.
    closed: bool,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Job({} texts)", self.texts.len())
    }
}

impl Drop for CandleEmbedder {
    fn drop(&mut self) {
        self.queue.lanes.lock().expect("queue lock").closed = true;
        self.queue.ready.notify_all();
    }
}

impl CandleEmbedder {
    /// Finds and loads the model (blocking: a few hundred milliseconds; call it at startup,
    /// or inside `spawn_blocking`) and starts the worker.
    pub fn new(config: EmbedderConfig) -> Result<Self> {
        let encoder = SentenceEncoder::load(&config)?;
        Self::from_encoder(encoder, config)
    }

    /// Starts the worker over an already loaded encoder; only the scheduling fields of
    /// `config` are used.
    pub fn from_encoder(encoder: SentenceEncoder, config: EmbedderConfig) -> Result<Self> {
        config.validate()?;
        let pool = match config.threads {
            0 => None,
            n => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("embed-pool-{i}"))
                    .build()
                    .map_err(|e| EmbedError::Worker(e.to_string()))?,
            ),
        };
        let queue = Arc::new(Queue::default());
        let stats = Arc::new(EmbedderStats::default());
        let worker = Worker {
            encoder,
            pool,
            queue: Arc::clone(&queue),
            config: config.clone(),
            stats: Arc::clone(&stats),
        };
        let model_id = worker.encoder.model_id().to_string();
        let dimension = worker.encoder.dimension();
        std::thread::Builder::new()
            .name("embed-worker".into())
            .spawn(move || worker.run())
            .map_err(|e| EmbedError::Worker(e.to_string()))?;
        Ok(Self {
            model_id,
            dimension,
            queue_capacity: config.queue_capacity,
            pass_budget: config.pass_budget(),
            max_queue_wait: config.max_queue_wait,
            max_ingest_wait: config.max_ingest_wait,
            queue,
            permits: Arc::new(Semaphore::new(config.queue_capacity)),
            stats,
        })
    }

    /// The worker's counters.
    pub fn stats(&self) -> &EmbedderStats {
        &self.stats
    }

    /// Refuses a call that would wait behind more than its lane's bound of queued work
    /// (`max_ingest_wait` for ingest, `max_queue_wait` otherwise), as estimated from the
    /// work ahead of it in the lanes and the worker's recent time per text. A call with
    /// nothing ahead of it is always admitted.
    fn admit(&self, lane: &EmbedPurpose) -> std::result::Result<(), EmbedderError> {
        let bound = match lane {
            EmbedPurpose::Ingest(_) => self.max_ingest_wait,
            EmbedPurpose::Query | EmbedPurpose::Backlog => self.max_queue_wait,
        };
        if bound.is_zero() {
            return Ok(());
        }
        let queued = self
            .queue
            .lanes
            .lock()
            .expect("queue lock")
            .lanes
            .ahead(lane);
        let ahead = self.stats.estimate(queued);
        if queued.texts > 0 && ahead > bound {
            // Retry once the backlog has shrunk below the admission bound.
            return Err(EmbedderError::overloaded(
                format!(
                    "embedding queue holds about {} ms of work ahead (at most {} ms)",
                    ahead.as_millis(),
                    bound.as_millis()
                ),
                ahead - bound,
            ));
        }
        Ok(())
    }

    /// Embeds `texts` for `purpose` and returns the raw vectors, in order. A call with more
    /// texts than the queue holds goes through in windows of `queue_capacity` texts, one
    /// after the other.
    pub async fn embed_raw(
        &self,
        texts: &[String],
        purpose: &EmbedPurpose,
    ) -> std::result::Result<Vec<Vec<f32>>, EmbedderError> {
        let mut out = Vec::with_capacity(texts.len());
        for window in texts.chunks(self.queue_capacity) {
            self.admit(purpose)?;
            let permit = Arc::clone(&self.permits)
                .try_acquire_many_owned(u32::try_from(window.len()).unwrap_or(u32::MAX))
                .map_err(|_| {
                    // Room for this window once as many texts as it holds are embedded (a
                    // second when the worker has not measured its speed yet).
                    let drain = match self.stats.time_per_text() {
                        d if d.is_zero() => Duration::from_secs(1),
                        d => d * u32::try_from(window.len()).unwrap_or(u32::MAX),
                    };
                    EmbedderError::overloaded(
                        format!(
                            "embedding queue full ({} texts waiting at most)",
                            self.queue_capacity
                        ),
                        drain,
                    )
                })?;
            let mut permit = permit;
            // One job per forward pass, so a query never waits behind more than one pass.
            let mut answers = Vec::new();
            {
                let mut state = self.queue.lanes.lock().expect("queue lock");
                let now = Instant::now();
                if *purpose == EmbedPurpose::Query {
                    state.last_query = Some(now);
                }
                let budget = pass_budget_now(self.pass_budget, state.last_query, now);
                for texts in passes(window, budget) {
                    let cost = Cost::of(texts);
                    let part = permit
                        .split(cost.texts)
                        .expect("the window's permits cover its jobs");
                    let (reply, answer) = oneshot::channel();
                    let job = Job {
                        texts: texts.to_vec(),
                        reply,
                        _permit: part,
                    };
                    state.lanes.push(purpose, job, cost);
                    answers.push(answer);
                }
            }
            self.queue.ready.notify_one();
            for answer in answers {
                let vectors = answer
                    .await
                    .map_err(|_| EmbedderError::unavailable("embedding worker has stopped"))?
                    .map_err(|e| EmbedderError::failed_from("the model failed on the batch", e))?;
                out.extend(vectors);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for CandleEmbedder {
    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> std::result::Result<Vec<Embedding>, EmbedderError> {
        self.embed_for(texts, &EmbedPurpose::Backlog).await
    }

    async fn embed_for(
        &self,
        texts: &[String],
        purpose: &EmbedPurpose,
    ) -> std::result::Result<Vec<Embedding>, EmbedderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.embed_raw(texts, purpose)
            .await?
            .into_iter()
            .map(|v| {
                Embedding::new(v, self.dimension).map_err(|e| {
                    EmbedderError::failed_from("the model returned an invalid vector", e)
                })
            })
            .collect()
    }
}

/// Splits `texts` into runs that each fit one pass (a text longer than the byte budget is a
/// pass of its own).
fn passes(texts: &[String], budget: Cost) -> Vec<&[String]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut used = Cost::default();
    for (i, t) in texts.iter().enumerate() {
        let next = used.plus(Cost {
            texts: 1,
            bytes: t.len(),
        });
        if i > start && !next.fits(budget) {
            out.push(&texts[start..i]);
            start = i;
            used = Cost {
                texts: 1,
                bytes: t.len(),
            };
        } else {
            used = next;
        }
    }
    if start < texts.len() {
        out.push(&texts[start..]);
    }
    out
}

struct Worker {
    encoder: SentenceEncoder,
    pool: Option<rayon::ThreadPool>,
    queue: Arc<Queue>,
    config: EmbedderConfig,
    stats: Arc<EmbedderStats>,
}

impl Worker {
    fn run(self) {
        // Ends when the embedder is dropped and the lanes are drained.
        while let Some((group, query)) = self.collect() {
            self.process(group, query);
        }
        tracing::debug!("embedding worker stopped");
    }

    /// The first job in priority order plus whatever else fits in one forward pass,
    /// waiting at most `max_wait` for more, and whether it is a query pass; `None` once
    /// closed and drained.
    fn collect(&self) -> Option<(Vec<Job>, bool)> {
        let mut state = self.queue.lanes.lock().expect("queue lock");
        let (first, mut used, query) = loop {
            if let Some(job) = state.lanes.pop_within(Cost::UNLIMITED, false) {
                break job;
            }
            if state.closed {
                return None;
            }
            state = self.queue.ready.wait(state).expect("queue lock");
        };
        let mut group = vec![first];
        let budget = pass_budget_now(self.config.pass_budget(), state.last_query, Instant::now());
        let deadline = Instant::now() + self.config.max_wait;
        // A pass that starts with a query takes only queries: short, so it is quick.
        while used.fits(budget) && used != budget {
            if let Some((job, cost, _)) = state.lanes.pop_within(budget.minus(used), query) {
                used = used.plus(cost);
                group.push(job);
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // Nothing more, or the next job does not fit this pass.
            if left.is_zero() || !state.lanes.is_empty() || state.closed {
                break;
            }
            state = self
                .queue
                .ready
                .wait_timeout(state, left)
                .expect("queue lock")
                .0;
        }
        Some((group, query))
    }

    /// The queries waiting now, as many as fit one pass (never waiting for more).
    fn waiting_queries(&self) -> Vec<Job> {
        let budget = self.config.pass_budget();
        let mut state = self.queue.lanes.lock().expect("queue lock");
        let mut used = Cost::default();
        let mut group = Vec::new();
        while let Some((job, cost, _)) = state.lanes.pop_within(budget.minus(used), true) {
            used = used.plus(cost);
            group.push(job);
        }
        group
    }

    /// Runs one group's forward passes and answers its jobs. Between the layers of an ingest
    /// or backlog pass, queries that arrived meanwhile cut in: they run their own pass at
    /// once, so a query waits for one layer of the pass in progress, not the whole of it.
    fn process(&self, mut group: Vec<Job>, query: bool) {
        // Under overload a caller may give up (its time budget ran out) while its job waits in
        // the queue: computing its vectors would only delay everyone behind it.
        group.retain(|job| {
            let gone = job.reply.is_closed();
            if gone {
                self.stats
                    .abandoned
                    .fetch_add(job.texts.len() as u64, Ordering::Relaxed);
            }
            !gone
        });
        if group.is_empty() {
            return;
        }
        let texts: Vec<&str> = group
            .iter()
            .flat_map(|j| j.texts.iter().map(String::as_str))
            .collect();
        let (encoder, max_batch) = (&self.encoder, self.config.max_batch_size);
        // Time spent on the queries that cut in, which is not this group's.
        let mut cut_in = Duration::ZERO;
        let mut between = || {
            if query {
                return;
            }
            let queries = self.waiting_queries();
            if !queries.is_empty() {
                let started = Instant::now();
                self.stats.cut_in.fetch_add(1, Ordering::Relaxed);
                self.process(queries, true);
                cut_in += started.elapsed();
            }
        };
        let mut encode = || encoder.encode_yielding(&texts, max_batch, &mut between);
        let started = Instant::now();
        let result = match &self.pool {
            Some(pool) => pool.install(encode),
            None => encode(),
        };
        let elapsed = started.elapsed().saturating_sub(cut_in);
        let count = texts.len();
        let cost = Cost {
            texts: count,
            bytes: texts.iter().map(|t| t.len()).sum(),
        };
        self.stats.record_speed(elapsed, cost);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.texts.fetch_add(count as u64, Ordering::Relaxed);
        // Free the queue slots before answering, so a caller that sends its next window
        // right away finds the room its previous one took.
        let replies: Vec<(usize, oneshot::Sender<Reply>)> = group
            .into_iter()
            .map(|job| (job.texts.len(), job.reply))
            .collect();
        match result {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for (len, reply) in replies {
                    let mine: Vec<Vec<f32>> = vectors.by_ref().take(len).collect();
                    // A caller that went away no longer wants its answer: nothing to do.
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, texts = count, "embedding failed");
                let e = Arc::new(e);
                for (_, reply) in replies {
                    let _ = reply.send(Err(Arc::clone(&e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_respect_both_budgets_and_keep_order() {
        let texts: Vec<String> = ["aaaa", "bb", "cccccccccc", "d", "e", "f"]
            .map(String::from)
            .into();
        let budget = Cost { texts: 2, bytes: 6 };
        let got: Vec<Vec<&str>> = passes(&texts, budget)
            .iter()
            .map(|p| p.iter().map(String::as_str).collect())
            .collect();
        // A text over the byte budget is a pass of its own; nothing is reordered or lost.
        assert_eq!(
            got,
            [
                vec!["aaaa", "bb"],
                vec!["cccccccccc"],
                vec!["d", "e"],
                vec!["f"]
            ]
        );
        assert!(passes(&[], budget).is_empty());
    }
}
