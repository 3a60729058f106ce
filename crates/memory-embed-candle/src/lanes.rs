//! [`Lanes`]: the embedder's queue, served in priority order. Queries first (a user waits on
//! each), then ingest, one job per tenant in turn (one tenant's import cannot take the model
//! from the others), then the catch-up backlog (nobody waits on it).
//!
//! The lane of a job is its caller's [`EmbedPurpose`]. Generic over the job so the order is
//! tested without a model; each job is pushed with its [`Cost`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use memory_core::domain::TenantId;
use memory_core::ports::EmbedPurpose;

/// What a job costs the model: texts (a forward pass takes at most `max_batch_size`) and
/// bytes (a pass's time grows with the length of what it reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Texts.
    pub texts: usize,
    /// Bytes of text.
    pub bytes: usize,
}

impl Cost {
    /// No limit.
    pub const UNLIMITED: Cost = Cost {
        texts: usize::MAX,
        bytes: usize::MAX,
    };

    /// The cost of these texts.
    pub fn of(texts: &[String]) -> Self {
        Self {
            texts: texts.len(),
            bytes: texts.iter().map(String::len).sum(),
        }
    }

    /// Whether `self` is within `budget` on both counts.
    pub fn fits(self, budget: Cost) -> bool {
        self.texts <= budget.texts && self.bytes <= budget.bytes
    }

    /// Both counts added.
    pub fn plus(self, other: Cost) -> Cost {
        Cost {
            texts: self.texts.saturating_add(other.texts),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }

    /// What is left of `self` after `used`.
    pub fn minus(self, used: Cost) -> Cost {
        Cost {
            texts: self.texts.saturating_sub(used.texts),
            bytes: self.bytes.saturating_sub(used.bytes),
        }
    }
}

/// How long after a query searches count as arriving (see [`pass_budget_now`]).
pub const QUERIES_ACTIVE: Duration = Duration::from_secs(1);

/// What one forward pass may take now: `full`, or, while searches are arriving (a query
/// within [`QUERIES_ACTIVE`] of `now`), half its bytes. A query waits for a layer of the pass
/// in progress, and the search that follows shares the CPU with the passes after it, so
/// shorter passes keep searches fast while they matter; an import with no search about keeps
/// the full passes (measured: about 3% more throughput on chat turns; docs/reliability.md).
pub fn pass_budget_now(full: Cost, last_query: Option<Instant>, now: Instant) -> Cost {
    match last_query {
        Some(at) if now.saturating_duration_since(at) < QUERIES_ACTIVE => Cost {
            texts: full.texts,
            bytes: (full.bytes / 2).max(1),
        },
        _ => full,
    }
}

/// A job taken from the lanes: the job, its cost, and whether it was a query.
pub type Popped<J> = (J, Cost, bool);

type Queue<J> = VecDeque<(J, Cost)>;

/// Jobs waiting, by lane.
#[derive(Debug)]
pub struct Lanes<J> {
    query: Queue<J>,
    ingest: HashMap<TenantId, Queue<J>>,
    /// Tenants with ingest jobs waiting, the next to serve first.
    turn: VecDeque<TenantId>,
    backlog: Queue<J>,
}

impl<J> Default for Lanes<J> {
    fn default() -> Self {
        Self {
            query: VecDeque::new(),
            ingest: HashMap::new(),
            turn: VecDeque::new(),
            backlog: VecDeque::new(),
        }
    }
}

fn total<J>(q: &Queue<J>) -> Cost {
    q.iter().fold(Cost::default(), |a, (_, c)| a.plus(*c))
}

impl<J> Lanes<J> {
    /// Queues `job` of `cost` in `lane`.
    pub fn push(&mut self, lane: &EmbedPurpose, job: J, cost: Cost) {
        match lane {
            EmbedPurpose::Query => self.query.push_back((job, cost)),
            EmbedPurpose::Backlog => self.backlog.push_back((job, cost)),
            EmbedPurpose::Ingest(tenant) => {
                let queue = self.ingest.entry(tenant.clone()).or_default();
                if queue.is_empty() {
                    self.turn.push_back(tenant.clone());
                }
                queue.push_back((job, cost));
            }
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.query.is_empty() && self.turn.is_empty() && self.backlog.is_empty()
    }

    /// The next job in priority order, if it fits `budget` (a job that does not fit stays
    /// first in line); with `queries_only`, only a query.
    pub fn pop_within(&mut self, budget: Cost, queries_only: bool) -> Option<Popped<J>> {
        if let Some((_, c)) = self.query.front() {
            if !c.fits(budget) {
                return None;
            }
            return self.query.pop_front().map(|(j, c)| (j, c, true));
        }
        if queries_only {
            return None;
        }
        if let Some(tenant) = self.turn.front() {
            let queue = self
                .ingest
                .get_mut(tenant)
                .expect("a tenant in turn has jobs");
            let (_, c) = queue.front().expect("a tenant in turn has jobs");
            if !c.fits(budget) {
                return None;
            }
            let job = queue.pop_front();
            let tenant = self.turn.pop_front().expect("checked");
            if self.ingest.get(&tenant).is_some_and(|q| !q.is_empty()) {
                self.turn.push_back(tenant);
            } else {
                self.ingest.remove(&tenant);
            }
            return job.map(|(j, c)| (j, c, false));
        }
        match self.backlog.front() {
            Some((_, c)) if c.fits(budget) => self.backlog.pop_front().map(|(j, c)| (j, c, false)),
            _ => None,
        }
    }

    /// What would be served before a job pushed now in `lane`: the queries for a query; the
    /// queries and, of each tenant's ingest, as many jobs as take their turn before it, for
    /// an ingest job; everything for the backlog.
    pub fn ahead(&self, lane: &EmbedPurpose) -> Cost {
        let queries = total(&self.query);
        match lane {
            EmbedPurpose::Query => queries,
            EmbedPurpose::Ingest(tenant) => {
                // The new job is its tenant's (k+1)-th; each other tenant is served at most
                // k+1 jobs before it.
                let own = self.ingest.get(tenant).map_or(0, VecDeque::len);
                let others = self
                    .ingest
                    .iter()
                    .filter(|(t, _)| *t != tenant)
                    .flat_map(|(_, q)| q.iter().take(own + 1))
                    .fold(Cost::default(), |a, (_, c)| a.plus(*c));
                queries
                    .plus(self.ingest.get(tenant).map_or(Cost::default(), total))
                    .plus(others)
            }
            EmbedPurpose::Backlog => self
                .ingest
                .values()
                .fold(queries, |a, q| a.plus(total(q)))
                .plus(total(&self.backlog)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_halve_their_bytes_while_searches_arrive() {
        let full = Cost {
            texts: 32,
            bytes: 4096,
        };
        let now = Instant::now();
        assert_eq!(pass_budget_now(full, None, now), full);
        let recent = pass_budget_now(full, Some(now - Duration::from_millis(200)), now);
        assert_eq!((recent.texts, recent.bytes), (32, 2048));
        assert_eq!(pass_budget_now(full, Some(now - QUERIES_ACTIVE), now), full);
        let tiny = Cost { texts: 1, bytes: 1 };
        assert_eq!(
            pass_budget_now(tiny, Some(now), now),
            tiny,
            "never below one byte"
        );
    }

    fn ingest(t: &str) -> EmbedPurpose {
        EmbedPurpose::Ingest(TenantId::parse(t).expect("valid"))
    }

    fn texts(n: usize) -> Cost {
        Cost {
            texts: n,
            bytes: 10 * n,
        }
    }

    fn drain(lanes: &mut Lanes<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| lanes.pop_within(Cost::UNLIMITED, false).map(|(j, _, _)| j)).collect()
    }

    #[test]
    fn queries_first_then_tenants_in_turn_then_the_backlog() {
        let mut lanes = Lanes::default();
        lanes.push(&EmbedPurpose::Backlog, "b1", texts(32));
        for j in ["a1", "a2", "a3", "a4"] {
            lanes.push(&ingest("flood"), j, texts(32));
        }
        lanes.push(&ingest("steady"), "s1", texts(1));
        lanes.push(&EmbedPurpose::Query, "q1", texts(1));
        lanes.push(&ingest("steady"), "s2", texts(1));
        lanes.push(&EmbedPurpose::Query, "q2", texts(1));
        assert_eq!(
            drain(&mut lanes),
            ["q1", "q2", "a1", "s1", "a2", "s2", "a3", "a4", "b1"]
        );
        assert!(lanes.is_empty());
    }

    #[test]
    fn a_job_that_does_not_fit_waits_first_in_line() {
        let mut lanes = Lanes::default();
        lanes.push(&ingest("t"), "big", texts(32));
        lanes.push(&EmbedPurpose::Backlog, "small", texts(1));
        assert!(
            lanes.pop_within(texts(10), false).is_none(),
            "no skipping ahead"
        );
        let few_bytes = Cost {
            texts: 32,
            bytes: 319,
        };
        assert!(
            lanes.pop_within(few_bytes, false).is_none(),
            "bytes count too"
        );
        assert!(
            lanes.pop_within(texts(32), true).is_none(),
            "only queries asked for"
        );
        let big = lanes.pop_within(texts(32), false);
        assert_eq!(big, Some(("big", texts(32), false)));
        let small = lanes.pop_within(texts(1), false).map(|(j, _, _)| j);
        assert_eq!(small, Some("small"));
    }

    #[test]
    fn what_waits_ahead_depends_on_the_lane() {
        let mut lanes = Lanes::default();
        for _ in 0..10 {
            lanes.push(&ingest("flood"), "a", texts(32));
        }
        lanes.push(&EmbedPurpose::Backlog, "b", texts(100));
        lanes.push(&EmbedPurpose::Query, "q", texts(1));
        assert_eq!(lanes.ahead(&EmbedPurpose::Query), texts(1));
        // A new tenant waits for the queries and one turn of the flooding tenant.
        assert_eq!(lanes.ahead(&ingest("steady")), texts(1 + 32));
        // The flooding tenant waits behind its own backlog.
        assert_eq!(lanes.ahead(&ingest("flood")), texts(1 + 320));
        assert_eq!(lanes.ahead(&EmbedPurpose::Backlog), texts(1 + 320 + 100));
        lanes.push(&ingest("steady"), "s", texts(2));
        assert_eq!(lanes.ahead(&ingest("steady")), texts(1 + 2 + 64));
    }
}
