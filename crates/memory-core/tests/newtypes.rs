//! Property tests: construction accepts exactly the documented values.

use memory_core::domain::{
    Content, ConversationId, Embedding, EmbeddingStatus, Importance, MessageId, Metadata,
    NewMessage, Role, SearchQuery, TenantId,
};
use proptest::prelude::*;
use serde_json::json;

proptest! {
    #[test]
    fn tenant_id_accepts_1_to_64_printable_chars(s in "[a-zA-Z0-9_.é漢-]{1,64}") {
        let t = TenantId::parse(s.clone()).expect("valid");
        prop_assert_eq!(t.as_str(), s.as_str());
    }

    #[test]
    fn tenant_id_rejects_over_64_chars(s in "[a-z]{65,200}") {
        let e = TenantId::parse(s).expect_err("too long");
        prop_assert_eq!(e.field, "tenant_id");
    }

    #[test]
    fn conversation_id_length_rule(s in "[a-zA-Z0-9-]{0,300}") {
        let n = s.chars().count();
        prop_assert_eq!(ConversationId::parse(s).is_ok(), (1..=128).contains(&n));
    }

    #[test]
    fn identifiers_reject_control_characters(prefix in "[a-z]{0,10}", c in prop::char::range('\0', '\x1f'), suffix in "[a-z]{0,10}") {
        let s = format!("{prefix}{c}{suffix}");
        prop_assert!(TenantId::parse(s.clone()).is_err());
        prop_assert!(ConversationId::parse(s).is_err());
    }

    #[test]
    fn content_counts_characters_not_bytes(n in 1usize..2000, c in prop::sample::select(vec!['a', 'é', '漢', '🐍'])) {
        let s: String = std::iter::repeat_n(c, n).collect();
        prop_assert_eq!(Content::parse(s).expect("valid").as_str().chars().count(), n);
    }

    #[test]
    fn importance_accepts_exactly_the_unit_interval(v in prop::num::f64::ANY) {
        prop_assert_eq!(Importance::new(v).is_ok(), v.is_finite() && (0.0..=1.0).contains(&v));
    }

    #[test]
    fn role_parses_only_the_three_roles(s in "\\PC{0,12}") {
        let ok = matches!(s.as_str(), "user" | "assistant" | "system");
        prop_assert_eq!(Role::parse(&s).is_ok(), ok);
        if let Ok(r) = Role::parse(&s) { prop_assert_eq!(r.as_str(), s.as_str()); }
    }

    #[test]
    fn message_id_round_trips(bytes in any::<[u8; 16]>()) {
        let id = MessageId::from_uuid(uuid::Uuid::from_bytes(bytes));
        prop_assert_eq!(MessageId::parse(&id.to_string()).expect("round trip"), id);
    }

    #[test]
    fn message_id_rejects_non_uuids(s in "[g-z]{1,40}") {
        prop_assert_eq!(MessageId::parse(&s).expect_err("not a uuid").field, "message_id");
    }

    #[test]
    fn embedding_checks_dimension_and_finiteness(v in prop::collection::vec(prop::num::f32::ANY, 0..20), dim in 0usize..20) {
        let ok = v.len() == dim && v.iter().all(|x| x.is_finite());
        prop_assert_eq!(Embedding::new(v, dim).is_ok(), ok);
    }

    #[test]
    fn cosine_of_a_vector_with_itself_is_one(v in prop::collection::vec(-100.0f32..100.0, 1..50)) {
        prop_assume!(v.iter().any(|x| x.abs() > 1e-3));
        let e = Embedding::new(v.clone(), v.len()).expect("valid");
        prop_assert!((e.cosine(&e) - 1.0).abs() < 1e-4);
        let neg = Embedding::new(v.iter().map(|x| -x).collect(), v.len()).expect("valid");
        prop_assert!((e.cosine(&neg) + 1.0).abs() < 1e-4);
    }

    #[test]
    fn search_query_bounds(top_k in -5i64..150, candidate_limit in -5i64..1100) {
        let ok = (1..=100).contains(&top_k) && (1..=1000).contains(&candidate_limit) && candidate_limit >= top_k;
        prop_assert_eq!(SearchQuery::parse("t", "q", None, Some(top_k), None, Some(candidate_limit)).is_ok(), ok);
    }
}

#[test]
fn content_limits() {
    assert_eq!(Content::parse("").expect_err("empty").field, "content");
    assert!(Content::parse("x".repeat(100_000)).is_ok());
    assert!(Content::parse("x".repeat(100_001)).is_err());
    assert!(
        Content::parse("é".repeat(100_000)).is_ok(),
        "characters, not bytes"
    );
    assert!(
        Content::parse("a\0b").is_err(),
        "NUL cannot be stored by Postgres"
    );
}

#[test]
fn metadata_must_be_an_object_without_nul() {
    assert!(Metadata::parse(json!({"a": [1, {"b": "c"}]})).is_ok());
    assert_eq!(
        Metadata::parse(json!(null)).expect("null is empty"),
        Metadata::default()
    );
    for bad in [
        json!([1]),
        json!("s"),
        json!(3),
        json!(true),
        json!({"a": "x\u{0}y"}),
        json!({"k\u{0}": 1}),
    ] {
        assert_eq!(
            Metadata::parse(bad).expect_err("rejected").field,
            "metadata"
        );
    }
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    assert!(Metadata::parse(deep).is_err(), "nesting is bounded");
}

#[test]
fn new_message_reports_every_broken_field() {
    let e = NewMessage::parse(
        "",
        &"c".repeat(129),
        "robot",
        "",
        Some(json!([])),
        Some(1.5),
        None,
    )
    .expect_err("invalid");
    let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "tenant_id",
            "conversation_id",
            "role",
            "content",
            "metadata",
            "importance_override"
        ]
    );
    for f in &e.0 {
        assert!(!f.rule.is_empty());
    }
}

#[test]
fn search_query_defaults_and_errors() {
    let q = SearchQuery::parse("acme", "Python", None, None, None, None).expect("valid");
    assert_eq!(
        (q.top_k(), q.candidate_limit(), q.importance_min()),
        (5, 200, None)
    );
    let e =
        SearchQuery::parse("acme", "  ", Some(""), Some(0), Some(-0.1), None).expect_err("invalid");
    let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        ["query", "conversation_id", "top_k", "importance_min"]
    );
}

#[test]
fn embedding_status_names() {
    for s in [
        EmbeddingStatus::Pending,
        EmbeddingStatus::Completed,
        EmbeddingStatus::Failed,
    ] {
        assert_eq!(EmbeddingStatus::parse(s.as_str()).expect("round trip"), s);
    }
    assert!(EmbeddingStatus::parse("done").is_err());
}
