//! [`Lanes`]: the embedder's queue, served in priority order. Queries first (a user waits on
//! each), then ingest, one job per tenant in turn (one tenant's import cannot take the model
//! from the others), then the catch-up backlog (nobody waits on it).
//!
//! Generic over the job so the order is tested without a model; each job is pushed with its
//! size in texts.

use std::collections::{HashMap, VecDeque};

/// Who a job is for, which decides when it is served.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lane {
    /// A search's query: served before anything else.
    Query,
    /// A write's texts, for this tenant: served after queries, tenants in turn.
    Ingest(String),
    /// Texts stored without an embedding: served when nothing else waits.
    Backlog,
}

/// Jobs waiting, by lane.
#[derive(Debug)]
pub struct Lanes<J> {
    query: VecDeque<(J, usize)>,
    ingest: HashMap<String, VecDeque<(J, usize)>>,
    /// Tenants with ingest jobs waiting, the next to serve first.
    turn: VecDeque<String>,
    backlog: VecDeque<(J, usize)>,
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

impl<J> Lanes<J> {
    /// Queues `job` of `texts` texts in `lane`.
    pub fn push(&mut self, lane: &Lane, job: J, texts: usize) {
        match lane {
            Lane::Query => self.query.push_back((job, texts)),
            Lane::Backlog => self.backlog.push_back((job, texts)),
            Lane::Ingest(tenant) => {
                let queue = self.ingest.entry(tenant.clone()).or_default();
                if queue.is_empty() {
                    self.turn.push_back(tenant.clone());
                }
                queue.push_back((job, texts));
            }
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.query.is_empty() && self.turn.is_empty() && self.backlog.is_empty()
    }

    /// The next job in priority order, if it holds at most `budget` texts (a job that does
    /// not fit stays first in line).
    pub fn pop_within(&mut self, budget: usize) -> Option<(J, usize)> {
        if let Some((_, n)) = self.query.front() {
            return (*n <= budget).then(|| self.query.pop_front()).flatten();
        }
        if let Some(tenant) = self.turn.front() {
            let queue = self
                .ingest
                .get_mut(tenant)
                .expect("a tenant in turn has jobs");
            let (_, n) = queue.front().expect("a tenant in turn has jobs");
            if *n > budget {
                return None;
            }
            let job = queue.pop_front();
            let tenant = self.turn.pop_front().expect("checked");
            if self.ingest.get(&tenant).is_some_and(|q| !q.is_empty()) {
                self.turn.push_back(tenant);
            } else {
                self.ingest.remove(&tenant);
            }
            return job;
        }
        match self.backlog.front() {
            Some((_, n)) if *n <= budget => self.backlog.pop_front(),
            _ => None,
        }
    }

    /// Texts that would be served before a job pushed now in `lane`: the queries for a
    /// query; the queries and, of each tenant's ingest, as many jobs as take their turn
    /// before it, for an ingest job; everything for the backlog.
    pub fn texts_ahead(&self, lane: &Lane) -> usize {
        let sum = |q: &VecDeque<(J, usize)>| q.iter().map(|(_, n)| n).sum::<usize>();
        let queries = sum(&self.query);
        match lane {
            Lane::Query => queries,
            Lane::Ingest(tenant) => {
                // The new job is its tenant's (k+1)-th; each other tenant is served at most
                // k+1 jobs before it.
                let own = self.ingest.get(tenant).map_or(0, VecDeque::len);
                let others: usize = self
                    .ingest
                    .iter()
                    .filter(|(t, _)| *t != tenant)
                    .map(|(_, q)| q.iter().take(own + 1).map(|(_, n)| n).sum::<usize>())
                    .sum();
                queries + self.ingest.get(tenant).map_or(0, sum) + others
            }
            Lane::Backlog => {
                queries + self.ingest.values().map(sum).sum::<usize>() + sum(&self.backlog)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest(t: &str) -> Lane {
        Lane::Ingest(t.into())
    }

    fn drain(lanes: &mut Lanes<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| lanes.pop_within(usize::MAX).map(|(j, _)| j)).collect()
    }

    #[test]
    fn queries_first_then_tenants_in_turn_then_the_backlog() {
        let mut lanes = Lanes::default();
        lanes.push(&Lane::Backlog, "b1", 32);
        for j in ["a1", "a2", "a3", "a4"] {
            lanes.push(&ingest("flood"), j, 32);
        }
        lanes.push(&ingest("steady"), "s1", 1);
        lanes.push(&Lane::Query, "q1", 1);
        lanes.push(&ingest("steady"), "s2", 1);
        lanes.push(&Lane::Query, "q2", 1);
        assert_eq!(
            drain(&mut lanes),
            ["q1", "q2", "a1", "s1", "a2", "s2", "a3", "a4", "b1"]
        );
        assert!(lanes.is_empty());
    }

    #[test]
    fn a_job_that_does_not_fit_waits_first_in_line() {
        let mut lanes = Lanes::default();
        lanes.push(&ingest("t"), "big", 32);
        lanes.push(&Lane::Backlog, "small", 1);
        assert_eq!(
            lanes.pop_within(10),
            None,
            "no skipping ahead of a bigger job"
        );
        assert_eq!(lanes.pop_within(32).map(|(j, _)| j), Some("big"));
        assert_eq!(lanes.pop_within(1).map(|(j, _)| j), Some("small"));
    }

    #[test]
    fn what_waits_ahead_depends_on_the_lane() {
        let mut lanes = Lanes::default();
        for _ in 0..10 {
            lanes.push(&ingest("flood"), "a", 32);
        }
        lanes.push(&Lane::Backlog, "b", 100);
        lanes.push(&Lane::Query, "q", 1);
        assert_eq!(lanes.texts_ahead(&Lane::Query), 1);
        // A new tenant waits for the queries and one turn of the flooding tenant.
        assert_eq!(lanes.texts_ahead(&ingest("steady")), 1 + 32);
        // The flooding tenant waits behind its own backlog.
        assert_eq!(lanes.texts_ahead(&ingest("flood")), 1 + 320);
        assert_eq!(lanes.texts_ahead(&Lane::Backlog), 1 + 320 + 100);
        lanes.push(&ingest("steady"), "s", 2);
        assert_eq!(lanes.texts_ahead(&ingest("steady")), 1 + 2 + 64);
    }
}
