//! "Nothing relevant" (issue 19): does the top result's relevance tell a question whose
//! evidence is stored from one whose evidence is not? Each question is asked against its own
//! conversation and against another one (where its evidence is not), once with
//! `min_relevance=0` (every candidate may come back: the top result's scores) and once with
//! the server's default threshold (is the answer kept, or empty?).

use serde_json::{Value, json};

/// What the paired searches showed, for one mode.
#[derive(Default)]
pub struct Separation {
    own_relevance: Vec<f64>,
    other_relevance: Vec<f64>,
    own_score: Vec<f64>,
    other_score: Vec<f64>,
    /// Answerable questions whose top result survived the default threshold.
    kept: usize,
    /// Unanswerable questions whose answer came back empty at the default threshold.
    emptied: usize,
    /// Every unfiltered own-conversation result: (relevance, is it an evidence turn).
    items: Vec<(f64, bool)>,
    min_relevance: f64,
}

fn top(answer: &Value, field: &str) -> f64 {
    answer["items"][0][field].as_f64().unwrap_or(0.0)
}

fn top_id(answer: &Value) -> Option<&str> {
    answer["items"][0]["message_id"].as_str()
}

impl Separation {
    /// A question asked of its own conversation: `unfiltered` with `min_relevance=0`,
    /// `filtered` with the default; `is_evidence` tells which results are its evidence.
    pub fn own(
        &mut self,
        unfiltered: &Value,
        filtered: &Value,
        is_evidence: impl Fn(&str) -> bool,
    ) {
        self.own_relevance.push(top(unfiltered, "relevance"));
        self.own_score.push(top(unfiltered, "score"));
        if top_id(unfiltered).is_some() && top_id(unfiltered) == top_id(filtered) {
            self.kept += 1;
        }
        for item in unfiltered["items"].as_array().into_iter().flatten() {
            let id = item["message_id"].as_str().unwrap_or_default();
            self.items
                .push((item["relevance"].as_f64().unwrap_or(0.0), is_evidence(id)));
        }
        self.min_relevance = filtered["min_relevance"].as_f64().unwrap_or(0.0);
    }

    /// The same question asked of another conversation.
    pub fn other(&mut self, unfiltered: &Value, filtered: &Value) {
        self.other_relevance.push(top(unfiltered, "relevance"));
        self.other_score.push(top(unfiltered, "score"));
        if filtered["items"].as_array().is_some_and(Vec::is_empty) {
            self.emptied += 1;
        }
    }

    /// AUCs, the kept/emptied pair at the default threshold, and the calibration curves.
    pub fn json(&self) -> Value {
        let n = self.own_relevance.len().max(1) as f64;
        let m = self.other_relevance.len().max(1) as f64;
        let bins: Vec<Value> = (0..10)
            .map(|b| {
                let (lo, hi) = (b as f64 / 10.0, (b + 1) as f64 / 10.0);
                let inside = |v: f64| v >= lo && (v < hi || (b == 9 && v <= 1.0));
                let own = self.own_relevance.iter().filter(|v| inside(**v)).count();
                let other = self.other_relevance.iter().filter(|v| inside(**v)).count();
                let items: Vec<&(f64, bool)> =
                    self.items.iter().filter(|(v, _)| inside(*v)).collect();
                let evidence = items.iter().filter(|(_, e)| *e).count();
                json!({
                    "relevance": format!("{lo:.1}-{hi:.1}"),
                    "top_own": own, "top_other": other,
                    "results": items.len(), "results_evidence": evidence,
                })
            })
            .collect();
        json!({
            "auc_top_relevance": auc(&self.own_relevance, &self.other_relevance),
            "auc_top_score": auc(&self.own_score, &self.other_score),
            "median_top_relevance_own": median(&self.own_relevance),
            "median_top_relevance_other": median(&self.other_relevance),
            "min_relevance": self.min_relevance,
            "answerable_kept": self.kept as f64 / n,
            "unanswerable_empty": self.emptied as f64 / m,
            "curve": bins,
        })
    }
}

/// The probability that a random positive outscores a random negative (ties count half):
/// the area under the ROC curve, by the rank-sum (Mann-Whitney) formula.
pub fn auc(pos: &[f64], neg: &[f64]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = pos
        .iter()
        .map(|v| (*v, true))
        .chain(neg.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += all[i..=j].iter().filter(|e| e.1).count() as f64 * rank;
        i = j + 1;
    }
    let (p, n) = (pos.len() as f64, neg.len() as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
