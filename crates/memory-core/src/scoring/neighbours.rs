//! Who neighbours whom among a search's candidates: turns at most a few places apart in
//! their conversation (on its time line, or among the candidates in time order).

use std::collections::HashMap;

use crate::domain::{Message, MessageId};

/// Who neighbours whom among the candidates: each placed candidate's neighbours are a run of
/// `placed` (sorted by conversation, then position) around it, so one sorted list and a range
/// per candidate say it all.
pub(super) struct Neighbourhood {
    /// Indices into `union`, by conversation, then position.
    placed: Vec<usize>,
    /// For each candidate (by index into `union`): its slot in `placed` and the range of
    /// `placed` holding it and its neighbours; `None` for a candidate missing from the time
    /// line.
    runs: Vec<Option<(usize, std::ops::Range<usize>)>>,
}

impl Neighbourhood {
    pub(super) fn new(
        union: &[(Message, f64)],
        timeline: Option<&[MessageId]>,
        window: usize,
    ) -> Self {
        // Each placed candidate: (conversation, position, index into union). Positions come
        // from the time line, or else from the candidates' own time order within their
        // conversation.
        let mut placed: Vec<(&str, usize, usize)> = match timeline {
            Some(line) => {
                let at: HashMap<MessageId, usize> =
                    line.iter().enumerate().map(|(p, id)| (*id, p)).collect();
                union
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (m, _))| {
                        at.get(&m.id).map(|&p| (m.conversation_id.as_str(), p, i))
                    })
                    .collect()
            }
            None => in_time_order(union)
                .into_iter()
                .enumerate()
                .map(|(p, i)| (union[i].0.conversation_id.as_str(), p, i))
                .collect(),
        };
        placed.sort_unstable();
        let near = |a: &(&str, usize, usize), b: &(&str, usize, usize)| {
            a.0 == b.0 && a.1.abs_diff(b.1) <= window
        };
        let mut runs = vec![None; union.len()];
        for k in 0..placed.len() {
            let before = placed[..k]
                .iter()
                .rev()
                .take_while(|e| near(e, &placed[k]))
                .count();
            let after = placed[k + 1..]
                .iter()
                .take_while(|e| near(e, &placed[k]))
                .count();
            runs[placed[k].2] = Some((k, k - before..k + 1 + after));
        }
        Self {
            placed: placed.into_iter().map(|e| e.2).collect(),
            runs,
        }
    }

    /// The neighbours of candidate `i` (indices into `union`), itself excluded.
    pub(super) fn of(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let (own, run) = self.runs[i].clone().unwrap_or((0, 0..0));
        run.filter(move |&k| k != own).map(|k| self.placed[k])
    }
}

/// The candidates' indices by conversation, then time (`created_at`, then id).
pub(super) fn in_time_order(union: &[(Message, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..union.len()).collect();
    order.sort_by(|&a, &b| {
        let (ma, mb) = (&union[a].0, &union[b].0);
        (ma.conversation_id.as_str(), ma.created_at, ma.id).cmp(&(
            mb.conversation_id.as_str(),
            mb.created_at,
            mb.id,
        ))
    });
    order
}
