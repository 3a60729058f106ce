//! `memory-server export` and `memory-server import`: a tenant's messages as JSON lines, and
//! back, through the service, on either store.
//!
//! One line per message, keys sorted, in `(created_at, id)` order:
//! `{"archived":false,"content":"...","conversation_id":"c1","created_at":"...",
//! "embedding_status":"completed","id":"...","importance_score":0.62,"metadata":{},
//! "role":"user","tenant_id":"acme","updated_at":"..."}`, plus `"embedding":[...]` with
//! `--embeddings`. Importing a file into an empty store and exporting again gives the same
//! file, whichever store each side uses.
//!
//! Imports go in batches of [`IMPORT_BATCH`] lines of one tenant, each under an idempotency
//! key derived from its lines: re-running an interrupted import replays what was stored and
//! stores the rest (messages that exist already are skipped even once the keys expired).

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use memory_core::MemoryService;
use memory_core::access::TenantAccess;
use memory_core::domain::{
    Content, ConversationId, Embedding, EmbeddingStatus, IdempotencyKey, Importance, ListParams,
    ListRequest, Message, MessageId, Metadata, Role, TenantId,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Lines per import batch (one transaction, one idempotency key).
pub const IMPORT_BATCH: usize = 256;

/// One exported message.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// Archived by retention.
    pub archived: bool,
    /// Text.
    pub content: String,
    /// Conversation.
    pub conversation_id: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The vector, with `--embeddings`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    /// `completed`, `pending` or `failed`.
    pub embedding_status: String,
    /// Identity.
    pub id: String,
    /// Importance.
    pub importance_score: f64,
    /// The client's own importance, when it gave one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance_override: Option<f64>,
    /// Metadata.
    pub metadata: serde_json::Value,
    /// Author.
    pub role: String,
    /// Owner.
    pub tenant_id: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Line {
    fn from_message(m: Message) -> Self {
        Self {
            archived: m.archived,
            content: m.content.into_inner(),
            conversation_id: m.conversation_id.into_inner(),
            created_at: m.created_at,
            embedding: m.embedding.map(|e| e.as_slice().to_vec()),
            embedding_status: m.embedding_status.as_str().to_owned(),
            id: m.id.as_uuid().to_string(),
            importance_score: m.importance_score.value(),
            importance_override: m.importance_override.map(|i| i.value()),
            metadata: m.metadata.to_value(),
            role: m.role.as_str().to_owned(),
            tenant_id: m.tenant_id.into_inner(),
            updated_at: m.updated_at,
        }
    }

    fn into_message(self, dimension: usize) -> anyhow::Result<Message> {
        let field = |e: memory_core::error::FieldError| anyhow::anyhow!("{}: {}", e.field, e.rule);
        Ok(Message {
            id: MessageId::parse(&self.id).map_err(field)?,
            tenant_id: TenantId::parse(self.tenant_id).map_err(field)?,
            conversation_id: ConversationId::parse(self.conversation_id).map_err(field)?,
            role: Role::parse(&self.role).map_err(field)?,
            content: Content::parse(self.content).map_err(field)?,
            metadata: Metadata::parse(self.metadata).map_err(field)?,
            importance_score: Importance::parse_field("importance_score", self.importance_score)
                .map_err(field)?,
            importance_override: self
                .importance_override
                .map(|v| Importance::parse_field("importance_override", v))
                .transpose()
                .map_err(field)?,
            embedding: self
                .embedding
                .map(|v| Embedding::new(v, dimension))
                .transpose()
                .map_err(|e| anyhow::anyhow!("embedding: {e}"))?,
            embedding_status: EmbeddingStatus::parse(&self.embedding_status).map_err(field)?,
            archived: self.archived,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Progress on stderr: a bar on a terminal, a plain line every few seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(what: &'static str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n).with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:40}] {pos}/{len} ({per_sec}, ETA {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{msg} {pos} ({per_sec})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_message(what);
            bar
        });
        Self {
            bar,
            what,
            total,
            done: 0,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                eprintln!("{}", self.line());
            }
            None => {}
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = self.done as f64 / secs;
        match self.total {
            Some(total) => {
                let eta = (total.saturating_sub(self.done)) as f64 / rate.max(1e-9);
                format!(
                    "{} {}/{} messages ({rate:.0}/s, ETA {eta:.0} s)",
                    self.what, self.done, total
                )
            }
            None => format!("{} {} messages ({rate:.0}/s)", self.what, self.done),
        }
    }

    fn finish(self) {
        match self.bar {
            Some(bar) => bar.finish(),
            None => eprintln!("{}", self.line()),
        }
    }
}

/// Writes every message of `tenant` (or one conversation of it), archived ones included, to
/// `out`, oldest first. Returns how many.
pub async fn export(
    service: &MemoryService,
    tenant: &str,
    conversation: Option<&str>,
    embeddings: bool,
    mut out: impl Write,
) -> anyhow::Result<u64> {
    let mut progress = Progress::new("exported", None);
    let mut cursor: Option<String> = None;
    loop {
        let request = ListRequest::parse(&ListParams {
            tenant_id: tenant,
            conversation_id: conversation,
            limit: Some(ListRequest::MAX_LIMIT as i64),
            cursor: cursor.as_deref(),
            ..ListParams::default()
        })
        .map_err(|e| anyhow::anyhow!("{}", memory_core::CoreError::Validation(e)))?;
        let page = service
            .list(&request, &TenantAccess::All, embeddings)
            .await?;
        let n = page.messages.len() as u64;
        for m in page.messages {
            serde_json::to_writer(&mut out, &Line::from_message(m))?;
            out.write_all(b"\n")?;
        }
        progress.advance(n);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.flush()?;
    let total = progress.done;
    progress.finish();
    Ok(total)
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Messages stored now.
    pub stored: u64,
    /// Messages that were there already (a re-run): skipped.
    pub skipped: u64,
}

/// The idempotency key of a batch: a hash of its lines.
fn batch_key(lines: &[String]) -> anyhow::Result<IdempotencyKey> {
    let mut hash = Sha256::new();
    for l in lines {
        hash.update(Sha256::digest(l.as_bytes()));
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    IdempotencyKey::parse(&format!("import-{hex}"), hex.clone())
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.rule))
}

/// Reads JSON lines (as [`export`] writes them) and stores them through the service, a
/// batch of up to [`IMPORT_BATCH`] lines of one tenant at a time. `total` (the number of
/// lines, when known) feeds the progress ETA. A malformed line stops the import, naming its
/// number; everything before it is stored.
pub async fn import(
    service: &MemoryService,
    input: impl BufRead,
    total: Option<u64>,
) -> anyhow::Result<ImportReport> {
    let dimension = service.embedder().dimension();
    let mut progress = Progress::new("imported", total);
    let mut report = ImportReport::default();
    let mut batch: Vec<(String, Message)> = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let parsed = line
            .with_context(|| format!("reading line {}", n + 1))
            .and_then(|line| {
                if line.trim().is_empty() {
                    return Ok(None);
                }
                let message = serde_json::from_str::<Line>(&line)
                    .map_err(anyhow::Error::from)
                    .and_then(|l| l.into_message(dimension))
                    .with_context(|| format!("line {}", n + 1))?;
                Ok(Some((line, message)))
            });
        let (line, message) = match parsed {
            Ok(Some(ok)) => ok,
            Ok(None) => continue,
            Err(e) => {
                // Keep what came before the bad line: a re-run skips it.
                flush(service, &mut batch, &mut report, &mut progress).await?;
                return Err(e);
            }
        };
        let other_tenant = batch
            .first()
            .is_some_and(|(_, m)| m.tenant_id != message.tenant_id);
        if batch.len() == IMPORT_BATCH || other_tenant {
            flush(service, &mut batch, &mut report, &mut progress).await?;
        }
        batch.push((line, message));
    }
    flush(service, &mut batch, &mut report, &mut progress).await?;
    progress.finish();
    Ok(report)
}

async fn flush(
    service: &MemoryService,
    batch: &mut Vec<(String, Message)>,
    report: &mut ImportReport,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (lines, messages): (Vec<String>, Vec<Message>) = std::mem::take(batch).into_iter().unzip();
    let key = batch_key(&lines)?;
    let outcome = service.import(messages, Some(&key)).await?;
    report.stored += outcome.stored as u64;
    report.skipped += outcome.skipped as u64;
    progress.advance(lines.len() as u64);
    Ok(())
}
