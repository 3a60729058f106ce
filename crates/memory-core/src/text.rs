//! Text analysis for lexical search: one analyzer, run by the service on what it stores and
//! on what it is asked (stores never analyse), and BM25, so lexical scores are the same
//! whatever the store.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

use crate::error::FieldError;

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

    /// `text` as stores index it: its terms and how many.
    pub fn analyze(&self, text: &str) -> AnalyzedText {
        let terms = self.terms(text);
        AnalyzedText {
            length: terms.len(),
            terms: terms.join(" "),
        }
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

/// A text as stores index it: its analyzer terms, space-separated, and how many there are.
/// Only [`Analyzer::analyze`] makes one, so every store indexes exactly what the core
/// queries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnalyzedText {
    terms: String,
    length: usize,
}

impl AnalyzedText {
    /// The terms, separated by single spaces (empty for a text of stopwords only).
    pub fn terms(&self) -> &str {
        &self.terms
    }

    /// How many terms (duplicates counted): the document length BM25 normalises by.
    pub fn length(&self) -> usize {
        self.length
    }
}

/// Okapi BM25 parameters: `k1 >= 0` (term-frequency saturation) and `b` in `[0, 1]`
/// (length normalisation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    k1: f64,
    b: f64,
}

impl Default for Bm25 {
    /// The textbook parameters: k1 1.2, b 0.75.
    fn default() -> Self {
        Self { k1: 1.2, b: 0.75 }
    }
}

impl Bm25 {
    /// Validated parameters.
    pub fn new(k1: f64, b: f64) -> Result<Self, FieldError> {
        if !k1.is_finite() || k1 < 0.0 {
            return Err(FieldError::new(
                "bm25_k1",
                format!("must be >= 0, got {k1}"),
            ));
        }
        if !(0.0..=1.0).contains(&b) {
            return Err(FieldError::new(
                "bm25_b",
                format!("must be between 0 and 1, got {b}"),
            ));
        }
        Ok(Self { k1, b })
    }

    /// Term-frequency saturation.
    pub fn k1(&self) -> f64 {
        self.k1
    }

    /// Length normalisation.
    pub fn b(&self) -> f64 {
        self.b
    }

    /// Lucene's idf: `ln(1 + (n - df + 0.5) / (df + 0.5))`, always positive.
    pub fn idf(n: f64, df: f64) -> f64 {
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The score of a document (its terms) for the query terms, given each query term's idf
    /// and the scope's average document length.
    pub fn score(&self, query: &[(String, f64)], doc_terms: &[&str], average_length: f64) -> f64 {
        let len = doc_terms.len() as f64;
        query
            .iter()
            .map(|(term, idf)| {
                let tf = doc_terms.iter().filter(|t| **t == term.as_str()).count() as f64;
                if tf == 0.0 {
                    0.0
                } else {
                    self.term_score(*idf, tf, len, average_length)
                }
            })
            .sum()
    }

    /// One query term's share of [`Bm25::score`]: a term with this `idf`, found `tf > 0`
    /// times in a document of `len` terms. [`Bm25::score`] is the sum of these over the
    /// query's terms in their order, so an index that adds them up term by term (skipping
    /// the terms a document lacks) gets bit-identical scores.
    pub fn term_score(&self, idf: f64, tf: f64, len: f64, average_length: f64) -> f64 {
        let norm = self.k1 * (1.0 - self.b + self.b * len / average_length.max(1e-9));
        idf * tf * (self.k1 + 1.0) / (tf + norm)
    }
}

/// BM25 of documents for one query over one scope's statistics: what ranks lexical matches
/// in every store and scores them in hybrid search.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalScorer {
    bm25: Bm25,
    idf: Vec<(String, f64)>,
    average_length: f64,
}

impl LexicalScorer {
    /// The scorer for the query `terms`, given each term's document frequency in the scope
    /// (missing frequencies count as 0), the scope's size and its average document length.
    pub fn new(
        bm25: Bm25,
        terms: &[String],
        document_frequencies: &[u64],
        scope_size: u64,
        average_length: f64,
    ) -> Self {
        let n = scope_size as f64;
        let idf = terms
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let df = document_frequencies.get(i).copied().unwrap_or(0) as f64;
                (t.clone(), Bm25::idf(n, df))
            })
            .collect();
        Self {
            bm25,
            idf,
            average_length,
        }
    }

    /// The score of a document given its space-separated analysed terms.
    pub fn score(&self, terms: &str) -> f64 {
        let doc: Vec<&str> = terms.split(' ').filter(|t| !t.is_empty()).collect();
        self.bm25.score(&self.idf, &doc, self.average_length)
    }

    /// [`LexicalScorer::score`] of a document taken to mention each query term in `matched`
    /// at least once: such a term adds at least its idf (what one mention adds with b = 0),
    /// or what the text's own mentions add if that is more. Never counts a term twice.
    pub fn score_with(&self, terms: &str, matched: &[String]) -> f64 {
        let doc: Vec<&str> = terms.split(' ').filter(|t| !t.is_empty()).collect();
        let len = doc.len() as f64;
        self.idf
            .iter()
            .map(|(term, idf)| {
                let tf = doc.iter().filter(|t| **t == term.as_str()).count() as f64;
                let own = if tf == 0.0 {
                    0.0
                } else {
                    self.bm25.term_score(*idf, tf, len, self.average_length)
                };
                if matched.contains(term) {
                    own.max(*idf)
                } else {
                    own
                }
            })
            .sum()
    }

    /// Query term `i`'s share of [`LexicalScorer::score`] for a document of `len` terms
    /// that holds it `tf > 0` times: adding these up over the terms a document holds, in
    /// the query's order, gives exactly its `score`.
    pub fn term_score(&self, i: usize, tf: u32, len: u32) -> f64 {
        let idf = self.idf.get(i).map_or(0.0, |(_, idf)| *idf);
        self.bm25
            .term_score(idf, f64::from(tf), f64::from(len), self.average_length)
    }

    /// The idf of the query terms among `terms`, each counted once: what a document that
    /// holds each of them once (b = 0) adds to its score.
    pub fn idf_mass(&self, terms: &[String]) -> f64 {
        self.idf
            .iter()
            .filter(|(t, _)| terms.contains(t))
            .map(|(_, idf)| idf)
            .sum()
    }

    /// A BM25 `score` on a fixed scale: the share of the query's idf mass it reaches, in
    /// `[0, 1]`. With b = 0 a document that mentions every query term once scores exactly 1
    /// and one that mentions only the rarest terms scores their share; repeats (and, with
    /// b > 0, shortness) can only push a score past 1, and it is capped there. A query term
    /// the scope has never seen has the largest idf, so a scope that lacks the query's rare
    /// words (a name it never mentions) cannot score high. 0 for a query without terms.
    pub fn coverage(&self, score: f64) -> f64 {
        let mass: f64 = self.idf.iter().map(|(_, idf)| idf).sum();
        if mass > 0.0 {
            (score / mass).clamp(0.0, 1.0)
        } else {
            0.0
        }
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
        let analyzed = a.analyze("Running runs, the end");
        assert_eq!((analyzed.terms(), analyzed.length()), ("run run end", 3));
        assert!(a.terms("").is_empty());
    }

    #[test]
    fn bm25_parameters_are_validated() {
        assert!(Bm25::new(1.2, 0.0).is_ok());
        assert_eq!(Bm25::new(-1.0, 0.5).expect_err("k1").field, "bm25_k1");
        assert_eq!(Bm25::new(1.2, 1.5).expect_err("b").field, "bm25_b");
        assert!(Bm25::new(f64::NAN, 0.5).is_err());
    }

    #[test]
    fn scorer_uses_the_scope_frequencies() {
        let terms = ["x".to_owned(), "y".to_owned()];
        let scorer = LexicalScorer::new(Bm25::default(), &terms, &[2, 9], 10, 4.0);
        let idf_x = Bm25::idf(10.0, 2.0);
        let expected = Bm25::default().score(&[("x".into(), idf_x)], &["x", "a", "b", "c"], 4.0);
        assert!((scorer.score("x a b c") - expected).abs() < 1e-12);
        assert!(
            scorer.score("x a") > scorer.score("y a"),
            "the rarer term weighs more"
        );
        assert_eq!(scorer.score(""), 0.0);
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
