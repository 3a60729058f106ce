//! Property tests for the request shapes: `NewMessage::parse`, `SearchQuery::parse`,
//! `RetentionRequest::parse` and `Metadata::parse` accept exactly what their parts accept, and
//! a rejection names every broken field and nothing else. (The single newtypes are covered by
//! `newtypes.rs`; the HTTP layer's shapes by memory-http's `tests/api/properties.rs`.)

use std::collections::BTreeSet;

use memory_core::domain::{
    Content, ConversationId, Importance, Metadata, NewMessage, Role, SearchMode, SearchQuery,
    TenantId,
};
use memory_core::error::ValidationErrors;
use memory_core::retention::{RetentionAction, RetentionRequest};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn fields(e: &ValidationErrors) -> BTreeSet<String> {
    e.0.iter().map(|f| f.field.clone()).collect()
}

/// Valid-looking and broken identifiers in about equal measure.
fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{1,20}",
        "[a-z]{60,140}",
        "[ \t]{0,3}",
        "[a-z]{0,3}[\u{0}\u{1}\u{7f}\u{85}][a-z]{0,3}",
        "\\PC{0,10}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{1,40}",
        Just(String::new()),
        "[ \t\n]{1,4}",
        "[a-z]{0,5}\u{0}[a-z]{0,5}",
        (9_990usize..10_010).prop_map(|n| "q".repeat(n)),
    ]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0f64..=1.0,
        -2.0f64..3.0,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-0.0)
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z\u{0}]{0,4}".prop_map(Value::from),
    ];
    let tree = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\u{0}]{0,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    });
    // Sometimes buried deep, around the 32-level limit.
    (tree, prop_oneof![Just(0usize), 25usize..40]).prop_map(|(mut v, levels)| {
        for i in 0..levels {
            v = if i % 2 == 0 {
                Value::Array(vec![v])
            } else {
                let mut m = Map::new();
                m.insert("k".into(), v);
                Value::Object(m)
            };
        }
        v
    })
}

/// The model of the metadata rules: no NUL in keys or strings, no value deeper than 32.
fn metadata_ok(v: &Value) -> bool {
    fn ok(v: &Value, depth: usize) -> bool {
        if depth > Metadata::MAX_DEPTH {
            return false;
        }
        match v {
            Value::String(s) => !s.contains('\0'),
            Value::Array(items) => items.iter().all(|i| ok(i, depth + 1)),
            Value::Object(map) => map
                .iter()
                .all(|(k, v)| !k.contains('\0') && ok(v, depth + 1)),
            _ => true,
        }
    }
    match v {
        Value::Null => true,
        Value::Object(map) => map.iter().all(|(k, v)| !k.contains('\0') && ok(v, 1)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn new_message_names_exactly_the_broken_fields(
        tenant in identifier(),
        conversation in identifier(),
        role in prop_oneof![Just("user".to_owned()), Just("assistant".to_owned()), "\\PC{0,8}"],
        content in text(),
        metadata in prop::option::of(json()),
        importance in prop::option::of(number()),
    ) {
        let mut expected = BTreeSet::new();
        let mut broken = |ok: bool, field: &str| if !ok { expected.insert(field.to_owned()); };
        broken(TenantId::parse(tenant.as_str()).is_ok(), "tenant_id");
        broken(ConversationId::parse(conversation.as_str()).is_ok(), "conversation_id");
        broken(Role::parse(&role).is_ok(), "role");
        broken(Content::parse(content.as_str()).is_ok(), "content");
        broken(metadata.as_ref().is_none_or(metadata_ok), "metadata");
        broken(importance.is_none_or(|v| Importance::new(v).is_ok()), "importance_override");
        let parsed = NewMessage::parse(&tenant, &conversation, &role, &content, metadata.clone(), importance, None);
        match parsed {
            Ok(m) => {
                prop_assert!(expected.is_empty(), "accepted despite {expected:?}");
                prop_assert_eq!(m.content().as_str(), content.as_str());
                prop_assert_eq!(m.metadata().to_value(), match metadata {
                    None | Some(Value::Null) => Value::Object(Map::new()),
                    Some(v) => v,
                });
            }
            Err(e) => prop_assert_eq!(fields(&e), expected),
        }
    }

    #[test]
    fn search_query_names_exactly_the_broken_fields(
        tenant in identifier(),
        query in text(),
        conversation in prop::option::of(identifier()),
        top_k in prop::option::of(-3i64..110),
        importance_min in prop::option::of(number()),
        candidate_limit in prop::option::of(-3i64..1010),
        mode in "\\PC{0,7}|vector|hybrid",
    ) {
        let mut expected = BTreeSet::new();
        let mut broken = |ok: bool, field: &str| if !ok { expected.insert(field.to_owned()); };
        broken(TenantId::parse(tenant.as_str()).is_ok(), "tenant_id");
        broken(!query.trim().is_empty() && query.chars().count() <= SearchQuery::MAX_QUERY_CHARS && !query.contains('\0'), "query");
        broken(conversation.as_deref().is_none_or(|c| ConversationId::parse(c).is_ok()), "conversation_id");
        let k_ok = top_k.is_none_or(|k| (1..=100).contains(&k));
        let c_ok = candidate_limit.is_none_or(|c| (1..=1000).contains(&c));
        broken(k_ok, "top_k");
        broken(importance_min.is_none_or(|v| Importance::new(v).is_ok()), "importance_min");
        let k = top_k.unwrap_or(SearchQuery::DEFAULT_TOP_K as i64);
        let c = candidate_limit.unwrap_or(SearchQuery::DEFAULT_CANDIDATE_LIMIT as i64);
        broken(c_ok && (!k_ok || c >= k), "candidate_limit");
        match SearchQuery::parse(&tenant, &query, conversation.as_deref(), top_k, importance_min, candidate_limit) {
            Ok(q) => {
                prop_assert!(expected.is_empty(), "accepted despite {expected:?}");
                prop_assert_eq!(q.top_k() as i64, k);
                prop_assert_eq!(q.candidate_limit() as i64, c);
                prop_assert_eq!(q.mode(), None);
            }
            Err(e) => prop_assert_eq!(fields(&e), expected),
        }
        let m = SearchMode::parse(&mode);
        prop_assert_eq!(m.is_ok(), mode == "vector" || mode == "hybrid");
        if let Ok(m) = m { prop_assert_eq!(m.as_str(), mode.as_str()); }
    }

    #[test]
    fn retention_request_accepts_exactly_archive_and_delete(
        tenant in identifier(),
        actions in prop::collection::vec(prop_oneof![Just("archive".to_owned()), Just("delete".to_owned()), "\\PC{0,8}"], 0..4),
        dry_run in any::<bool>(),
    ) {
        let mut expected = BTreeSet::new();
        if TenantId::parse(tenant.as_str()).is_err() { expected.insert("tenant_id".to_owned()); }
        if actions.is_empty() || actions.iter().any(|a| a != "archive" && a != "delete") {
            expected.insert("actions".to_owned());
        }
        match RetentionRequest::parse(&tenant, &actions, dry_run) {
            Ok(r) => {
                prop_assert!(expected.is_empty(), "accepted despite {expected:?}");
                prop_assert_eq!(r.dry_run(), dry_run);
                let want: BTreeSet<RetentionAction> = actions.iter().map(|a| RetentionAction::parse(a).expect("valid")).collect();
                prop_assert_eq!(r.actions(), &want);
            }
            Err(e) => prop_assert_eq!(fields(&e), expected),
        }
    }

    #[test]
    fn metadata_accepts_objects_without_nul_up_to_32_levels(v in json()) {
        let parsed = Metadata::parse(v.clone());
        prop_assert_eq!(parsed.is_ok(), metadata_ok(&v), "{}", v);
        match parsed {
            Ok(m) if v.is_object() => prop_assert_eq!(m.to_value(), v),
            Ok(m) => prop_assert!(m.as_map().is_empty()),
            Err(e) => prop_assert_eq!(e.field, "metadata"),
        }
    }
}
