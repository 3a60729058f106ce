//! The shapes of a search: the validated query, and the ranked answer.

use super::{ConversationId, Filters, Importance, Message, TenantId};
use crate::error::{FieldError, ValidationErrors};

/// A search request, validated by [`SearchQuery::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub(crate) tenant_id: TenantId,
    pub(crate) query: String,
    pub(crate) conversation_id: Option<ConversationId>,
    pub(crate) top_k: usize,
    pub(crate) importance_min: Option<Importance>,
    pub(crate) candidate_limit: usize,
    pub(crate) mode: Option<SearchMode>,
    pub(crate) filters: Filters,
    pub(crate) min_relevance: Option<MinRelevance>,
}

/// The least relevance a result must reach (or a turn next to it in its conversation, in
/// hybrid mode), in `[0, 1]`; 0 keeps everything. See `docs/scoring.md`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct MinRelevance(f64);

impl MinRelevance {
    /// The default: what drops memories that are clearly unrelated to the query, chosen on
    /// the LoCoMo dev split (docs/scoring.md).
    pub const DEFAULT: MinRelevance = MinRelevance(0.3);
    /// No threshold: every candidate may be returned.
    pub const NONE: MinRelevance = MinRelevance(0.0);

    /// A threshold in `[0, 1]`, read from the field `field`.
    pub fn parse(field: &str, v: f64) -> Result<Self, FieldError> {
        if (0.0..=1.0).contains(&v) {
            Ok(Self(v))
        } else {
            Err(FieldError::new(
                field,
                format!("must be between 0 and 1, got {v}"),
            ))
        }
    }

    /// The threshold.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl Default for MinRelevance {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How candidates are found and how relevant they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SearchMode {
    /// Nearest neighbours by cosine similarity only (the seed's method).
    Vector,
    /// Nearest neighbours plus lexical (BM25) matches, fused; see `docs/scoring.md`.
    #[default]
    Hybrid,
    /// Lexical (BM25) matches only; the query is not embedded. Also what a hybrid search
    /// runs when the embedder is unavailable or overloaded.
    Lexical,
}

impl SearchMode {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SearchMode::Vector => "vector",
            SearchMode::Hybrid => "hybrid",
            SearchMode::Lexical => "lexical",
        }
    }

    /// Parses `vector`, `hybrid` or `lexical`.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        match value {
            "vector" => Ok(Self::Vector),
            "hybrid" => Ok(Self::Hybrid),
            "lexical" => Ok(Self::Lexical),
            other => Err(FieldError::new(
                "mode",
                format!("must be vector, hybrid or lexical; got {other:?}"),
            )),
        }
    }
}

impl SearchQuery {
    /// Mandatory scope.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The text to search for.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Optional narrower scope.
    pub fn conversation_id(&self) -> Option<&ConversationId> {
        self.conversation_id.as_ref()
    }

    /// How many results (1-100, default 5).
    pub fn top_k(&self) -> usize {
        self.top_k
    }

    /// Only messages at least this important.
    pub fn importance_min(&self) -> Option<Importance> {
        self.importance_min
    }

    /// How many nearest neighbours the store returns for ranking (1-1000, default 200, at
    /// least `top_k`).
    pub fn candidate_limit(&self) -> usize {
        self.candidate_limit
    }

    /// Vector, hybrid or lexical retrieval; `None` is the service's default.
    pub fn mode(&self) -> Option<SearchMode> {
        self.mode
    }

    /// The time range and metadata conditions results must satisfy.
    pub fn filters(&self) -> &Filters {
        &self.filters
    }

    /// The same query, narrowed by `filters` ([`Filters::parse`]).
    pub fn with_filters(mut self, filters: Filters) -> Self {
        self.filters = filters;
        self
    }

    /// The least relevance a result must reach; `None` is the service's default.
    pub fn min_relevance(&self) -> Option<MinRelevance> {
        self.min_relevance
    }

    /// The same query with its own relevance threshold.
    pub fn with_min_relevance(mut self, min: MinRelevance) -> Self {
        self.min_relevance = Some(min);
        self
    }

    /// The same query in another mode.
    pub fn with_mode(mut self, mode: SearchMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Default `top_k`.
    pub const DEFAULT_TOP_K: usize = 5;
    /// Largest `top_k`.
    pub const MAX_TOP_K: usize = 100;
    /// Default `candidate_limit`.
    pub const DEFAULT_CANDIDATE_LIMIT: usize = 200;
    /// Largest `candidate_limit`.
    pub const MAX_CANDIDATE_LIMIT: usize = 1000;
    /// Longest query, in characters.
    pub const MAX_QUERY_CHARS: usize = 10_000;

    /// Validates raw parameters, collecting every error. `None` means the default.
    pub fn parse(
        tenant_id: &str,
        query: &str,
        conversation_id: Option<&str>,
        top_k: Option<i64>,
        importance_min: Option<f64>,
        candidate_limit: Option<i64>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let tenant_id = errors.check(TenantId::parse(tenant_id));
        let qlen = query.chars().count();
        if query.trim().is_empty() {
            errors.push(FieldError::new("query", "must not be empty"));
        } else if qlen > Self::MAX_QUERY_CHARS {
            errors.push(FieldError::new(
                "query",
                format!("must be at most {} characters", Self::MAX_QUERY_CHARS),
            ));
        } else if query.contains('\0') {
            errors.push(FieldError::new("query", "must not contain NUL characters"));
        }
        let conversation_id = match conversation_id {
            Some(c) => errors.check(ConversationId::parse(c)).map(Some),
            None => Some(None),
        };
        let top_k = bounded(
            &mut errors,
            "top_k",
            top_k,
            Self::DEFAULT_TOP_K,
            Self::MAX_TOP_K,
        );
        let candidate_limit = bounded(
            &mut errors,
            "candidate_limit",
            candidate_limit,
            Self::DEFAULT_CANDIDATE_LIMIT,
            Self::MAX_CANDIDATE_LIMIT,
        );
        let importance_min = match importance_min {
            Some(v) => errors
                .check(Importance::parse_field("importance_min", v))
                .map(Some),
            None => Some(None),
        };
        if let (Some(k), Some(c)) = (top_k, candidate_limit)
            && c < k
        {
            errors.push(FieldError::new(
                "candidate_limit",
                format!("must be at least top_k ({k}), got {c}"),
            ));
        }
        match (
            tenant_id,
            conversation_id,
            top_k,
            importance_min,
            candidate_limit,
        ) {
            (
                Some(tenant_id),
                Some(conversation_id),
                Some(top_k),
                Some(importance_min),
                Some(candidate_limit),
            ) if errors.is_empty() => Ok(Self {
                tenant_id,
                query: query.to_owned(),
                conversation_id,
                top_k,
                importance_min,
                candidate_limit,
                mode: None,
                filters: Filters::default(),
                min_relevance: None,
            }),
            _ => Err(errors),
        }
    }
}

fn bounded(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<i64>,
    default: usize,
    max: usize,
) -> Option<usize> {
    match value {
        None => Some(default),
        Some(v) if v >= 1 && (v as u64) <= max as u64 => Some(v as usize),
        Some(v) => {
            errors.push(FieldError::new(
                field,
                format!("must be between 1 and {max}, got {v}"),
            ));
            None
        }
    }
}

/// One ranked search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The message (its embedding left out).
    pub message: Message,
    /// What orders the results: `w_sim*r + w_imp*importance + w_decay*decay`, where r is the
    /// cosine similarity in vector mode and, in hybrid and lexical modes, the candidate's
    /// fused relevance relative to the best candidate of this search (1 for the best).
    /// Compare scores within one answer; compare `relevance` across answers.
    pub score: f64,
    /// Cosine similarity of the query and the message.
    pub similarity: f64,
    /// `exp(-age_days / decay_days)`.
    pub decay: f64,
    /// The message's importance score.
    pub importance: f64,
    /// Hybrid and lexical modes: BM25 on a fixed scale in `[0, 1]`, the share of the query's
    /// idf mass the message matches; `None` in vector mode.
    pub lexical: Option<f64>,
    /// The `r` of `score`'s formula (`Fused::order`): what `score` weighs with importance
    /// and recency.
    pub fusion: f64,
    /// Hybrid and lexical modes: what `fusion` is made of (it is their total over the best
    /// candidate's); `None` in vector mode.
    pub signals: Option<crate::scoring::Signals>,
    /// How relevant the message is to the query on an absolute scale in `[0, 1]`: the same
    /// for the same message and query whatever else is stored or found (see
    /// `docs/scoring.md`). What `min_relevance` is compared with.
    pub relevance: f64,
}

/// The ranked results of a search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResults {
    /// Best first, at most `top_k`.
    pub items: Vec<SearchHit>,
    /// The mode that ran: lexical when a hybrid search could not embed its query.
    pub mode: SearchMode,
    /// Messages of the scope not embedded yet: vector similarity could not consider them
    /// (hybrid mode still finds them lexically). They are embedded in the background.
    pub pending_embeddings: u64,
    /// The relevance threshold the search applied.
    pub min_relevance: f64,
    /// How many of the `top_k` best-scored candidates fell below `min_relevance` and were
    /// left out (an empty answer with a positive count: nothing relevant was found).
    pub below_min_relevance: usize,
}
