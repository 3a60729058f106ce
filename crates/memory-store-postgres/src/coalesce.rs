//! Group commit for single-message inserts: concurrent [`MessageStore::insert`] calls are
//! written together, in one multi-row `INSERT`, when they arrive faster than the database
//! takes them.
//!
//! At most [`PostgresConfig::insert_writers`] writes run at once. A call that finds a free
//! writer slot starts a writer (a spawned task); a call that finds none queues its record.
//! A writer takes every queued record (up to [`GROUP_MAX`]), writes them in one statement (one
//! commit, one round trip), answers each caller, and goes on until the queue is empty. Under
//! light load every insert is written alone, at once; under load (32 clients whose messages
//! the embedder finishes together) the queue fills while the writers work and the per-row
//! statement, commit and round trip are paid once per group.
//!
//! Each caller still gets its own outcome: when a group's statement fails for a reason other
//! than the database being unreachable (a duplicate id, say), its records are written again
//! one by one, so only the offending record's caller sees the error. The write runs in its own
//! task, so a caller that gives up (its request timed out) cancels nobody else's write.
//!
//! [`MessageStore::insert`]: memory_core::ports::MessageStore::insert
//! [`PostgresConfig::insert_writers`]: crate::PostgresConfig::insert_writers

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use memory_core::error::RepositoryError;
use memory_core::ports::{MessageRecord, MessageStore as _};
use tokio::sync::oneshot;

use crate::open::PostgresStore;

/// The most records one group statement writes (13 parameters a row: far below Postgres'
/// 65,535).
const GROUP_MAX: usize = 256;

/// A record waiting for a writer, and where its outcome goes.
struct Waiting {
    record: MessageRecord,
    done: oneshot::Sender<Result<(), RepositoryError>>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Waiting>,
    writers: usize,
}

/// The queue of single inserts and the number of writers at work.
#[derive(Default)]
pub(crate) struct Writes(Mutex<State>);

impl Writes {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A writer's slot. A writer that ends normally gives it back itself, under the lock under
/// which it found the queue empty (so a record queued after that starts a new writer). If the
/// task ends any other way (a panic), this gives the slot back, and starts a new writer for
/// what is still queued.
struct Slot<'a> {
    store: &'a PostgresStore,
    held: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let restart = {
            let mut state = self.store.writes().state();
            let restart = !state.queue.is_empty();
            if !restart {
                state.writers = state.writers.saturating_sub(1);
            }
            restart
        };
        // The slot passes to the new writer. No runtime: it is shutting down, and the queued
        // callers with it.
        if let (true, Ok(runtime)) = (restart, tokio::runtime::Handle::try_current()) {
            let store = self.store.clone();
            runtime.spawn(async move { store.write_queued().await });
        }
    }
}

impl PostgresStore {
    /// Writes `record` alone or with the single inserts queued beside it; see the module
    /// documentation.
    pub(crate) async fn insert_coalesced(
        &self,
        record: MessageRecord,
    ) -> Result<(), RepositoryError> {
        let (done, outcome) = oneshot::channel();
        let start = {
            let mut state = self.writes().state();
            state.queue.push_back(Waiting { record, done });
            let free = state.writers < self.config().insert_writers;
            if free {
                state.writers += 1;
            }
            free
        };
        if start {
            let store = self.clone();
            tokio::spawn(async move { store.write_queued().await });
        }
        outcome.await.unwrap_or_else(|_| {
            Err(RepositoryError::internal(
                "the insert's writer ended without an outcome",
            ))
        })
    }

    /// One writer: groups from the queue until it is empty.
    async fn write_queued(&self) {
        let mut slot = Slot {
            store: self,
            held: true,
        };
        loop {
            let group: Vec<Waiting> = {
                let mut state = self.writes().state();
                if state.queue.is_empty() {
                    state.writers = state.writers.saturating_sub(1);
                    slot.held = false;
                    return;
                }
                let n = state.queue.len().min(GROUP_MAX);
                state.queue.drain(..n).collect()
            };
            self.write_group(group).await;
        }
    }

    async fn write_group(&self, group: Vec<Waiting>) {
        let (records, done): (Vec<MessageRecord>, Vec<_>) =
            group.into_iter().map(|w| (w.record, w.done)).unzip();
        match self.insert_batch(&records, None).await {
            Ok(()) => {
                for d in done {
                    let _ = d.send(Ok(()));
                }
            }
            Err(RepositoryError::Unavailable { message, .. }) if records.len() > 1 => {
                // Unreachable for one is unreachable for all: no retry one by one (each would
                // wait out the timeouts again).
                for d in done {
                    let _ = d.send(Err(RepositoryError::unavailable(message.clone())));
                }
            }
            Err(e) if records.len() == 1 => {
                if let Some(d) = done.into_iter().next() {
                    let _ = d.send(Err(e));
                }
            }
            Err(_) => {
                // One record spoilt the statement: each record on its own, each its outcome.
                for (record, d) in records.iter().zip(done) {
                    let outcome = self.insert_batch(std::slice::from_ref(record), None).await;
                    let _ = d.send(outcome);
                }
            }
        }
    }
}
