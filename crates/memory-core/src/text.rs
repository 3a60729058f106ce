//! Text analysis for lexical search: one analyzer, used by every store to index and by the
//! service to query, so lexical scores are the same whatever the store.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// English stopwords (the NLTK list): too common to say anything about relevance.
pub const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "ain",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
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
    "couldn",
    "d",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
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
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "ll",
    "m",
    "ma",
    "me",
    "mightn",
    "more",
    "most",
    "mustn",
    "my",
    "myself",
    "needn",
    "no",
    "nor",
    "not",
    "now",
    "o",
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
    "re",
    "s",
    "same",
    "shan",
    "she",
    "should",
    "shouldn",
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
    "ve",
    "very",
    "was",
    "wasn",
    "we",
    "were",
    "weren",
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
    "won",
    "wouldn",
    "y",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Lower-cases, splits on anything not alphanumeric, drops stopwords, stems (Snowball
/// English, i.e. Porter2). Terms never contain white space or punctuation, so stores can
/// keep them space-separated and hand them to their full-text engines verbatim.
pub struct Analyzer {
    stemmer: Stemmer,
    stopwords: HashSet<&'static str>,
}

impl fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Analyzer")
            .field("stemmer", &"snowball-english")
            .finish_non_exhaustive()
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
            stopwords: STOPWORDS.iter().copied().collect(),
        }
    }
}

impl Analyzer {
    /// The shared English analyzer.
    pub fn english() -> &'static Analyzer {
        static ANALYZER: OnceLock<Analyzer> = OnceLock::new();
        ANALYZER.get_or_init(Analyzer::default)
    }

    /// The terms of `text`, in order, duplicates kept (term frequency matters).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty() && !self.stopwords.contains(t))
            .map(|t| self.stemmer.stem(t).into_owned())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The terms joined by single spaces: the form stores index.
    pub fn index_text(&self, text: &str) -> String {
        self.terms(text).join(" ")
    }

    /// The distinct terms of a query, in first-seen order.
    pub fn query_terms(&self, text: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        self.terms(text)
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .collect()
    }
}

/// Okapi BM25 parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    /// Term-frequency saturation (default 1.2).
    pub k1: f64,
    /// Length normalisation (default 0.75).
    pub b: f64,
}

impl Default for Bm25 {
    fn default() -> Self {
        Self { k1: 1.2, b: 0.75 }
    }
}

impl Bm25 {
    /// Lucene's idf: `ln(1 + (n - df + 0.5) / (df + 0.5))`, always positive.
    pub fn idf(n: f64, df: f64) -> f64 {
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The score of a document (its terms) for the query terms, given each query term's idf
    /// and the scope's average document length.
    pub fn score(&self, query: &[(String, f64)], doc_terms: &[&str], average_length: f64) -> f64 {
        let len = doc_terms.len() as f64;
        let norm = self.k1 * (1.0 - self.b + self.b * len / average_length.max(1e-9));
        query
            .iter()
            .map(|(term, idf)| {
                let tf = doc_terms.iter().filter(|t| **t == term.as_str()).count() as f64;
                if tf == 0.0 {
                    0.0
                } else {
                    idf * tf * (self.k1 + 1.0) / (tf + norm)
                }
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyzer_lowercases_drops_stopwords_and_stems() {
        let a = Analyzer::english();
        assert_eq!(
            a.terms("Caroline: I went to the LGBTQ support groups, yesterday!"),
            ["carolin", "went", "lgbtq", "support", "group", "yesterday"]
        );
        assert_eq!(a.terms("Running runs RUN"), ["run", "run", "run"]);
        assert_eq!(a.query_terms("run running the runs"), ["run"]);
        assert_eq!(a.index_text("Café in Zürich, 2023"), "café zürich 2023");
        assert!(a.terms("the and of").is_empty());
        assert!(a.terms("").is_empty());
    }

    #[test]
    fn bm25_matches_the_textbook_formula() {
        let bm = Bm25::default();
        let idf = Bm25::idf(10.0, 2.0);
        assert!((idf - (1.0f64 + 8.5 / 2.5).ln()).abs() < 1e-12);
        // tf 2, doc length 4, average 4: idf * 2 * 2.2 / (2 + 1.2)
        let s = bm.score(&[("x".into(), idf)], &["x", "y", "x", "z"], 4.0);
        assert!((s - idf * 2.0 * 2.2 / 3.2).abs() < 1e-12);
        assert_eq!(bm.score(&[("q".into(), idf)], &["x"], 4.0), 0.0);
        // Longer documents score lower for the same tf.
        assert!(
            bm.score(&[("x".into(), idf)], &["x", "a", "b", "c", "d", "e"], 4.0)
                < bm.score(&[("x".into(), idf)], &["x", "a"], 4.0)
        );
    }
}
