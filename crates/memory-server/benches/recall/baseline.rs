//! The BM25 baseline the service is compared with: textbook BM25 (k1 1.2, b 0.75) over
//! lower-cased words with NLTK-style English stopwords removed, no stemming.

use std::collections::{HashMap, HashSet};

use super::Msg;

const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "s",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty() && !STOPWORDS.contains(t))
        .map(str::to_owned)
        .collect()
}

/// Okapi BM25 (k1 1.2, b 0.75, Lucene idf) over one conversation; positive scores only.
pub fn bm25_rank(docs: &[&Msg], query: &str) -> Vec<String> {
    let toks: Vec<Vec<String>> = docs.iter().map(|d| tokens(&d.content)).collect();
    let avg = toks.iter().map(Vec::len).sum::<usize>() as f64 / toks.len().max(1) as f64;
    let mut df: HashMap<&str, usize> = HashMap::new();
    for t in &toks {
        for w in t.iter().collect::<HashSet<_>>() {
            *df.entry(w.as_str()).or_default() += 1;
        }
    }
    let n = docs.len() as f64;
    let q = tokens(query);
    let mut scored: Vec<(f64, usize)> = toks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut s = 0.0;
            for w in &q {
                let f = t.iter().filter(|x| *x == w).count() as f64;
                if f == 0.0 {
                    continue;
                }
                let d = *df.get(w.as_str()).unwrap_or(&0) as f64;
                let idf = (1.0 + (n - d + 0.5) / (d + 0.5)).ln();
                s += idf * f * 2.2 / (f + 1.2 * (1.0 - 0.75 + 0.75 * t.len() as f64 / avg));
            }
            (s, i)
        })
        .filter(|(s, _)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(10)
        .map(|(_, i)| docs[i].id.clone())
        .collect()
}
