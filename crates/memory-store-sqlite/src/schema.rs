//! Diesel's view of `migrations/sqlite`.

diesel::table! {
    store_meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    messages (id) {
        id -> Binary,
        tenant_id -> Text,
        conversation_id -> Text,
        role -> Text,
        content -> Text,
        metadata -> Text,
        importance_score -> Double,
        importance_override -> Nullable<Double>,
        embedding -> Nullable<Binary>,
        embedding_status -> Text,
        archived -> Bool,
        archived_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        lexical_terms -> Nullable<Text>,
        lexical_length -> Nullable<BigInt>,
        lexical_doc -> Nullable<BigInt>,
    }
}

diesel::table! {
    lexical_scopes (tenant_id, conversation_id) {
        tenant_id -> Text,
        conversation_id -> Text,
        documents -> BigInt,
        terms -> BigInt,
    }
}

diesel::table! {
    archived_messages (id) {
        id -> Binary,
        tenant_id -> Text,
        conversation_id -> Text,
        role -> Text,
        content -> Text,
        metadata -> Text,
        importance_score -> Double,
        importance_override -> Nullable<Double>,
        embedding -> Nullable<Binary>,
        embedding_status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        archived_at -> BigInt,
    }
}

diesel::table! {
    retention_policies (tenant_id) {
        tenant_id -> Text,
        max_age_days -> Integer,
        importance_threshold -> Double,
        delete_after_days -> Integer,
        updated_at -> BigInt,
    }
}

diesel::table! {
    message_history (id) {
        id -> Binary,
        message_id -> Binary,
        tenant_id -> Text,
        at -> BigInt,
        actor -> Text,
        old_content -> Text,
        new_content -> Text,
        old_metadata -> Text,
        new_metadata -> Text,
        old_importance -> Double,
        new_importance -> Double,
    }
}

diesel::table! {
    idempotency_keys (tenant_id, key) {
        tenant_id -> Text,
        key -> Text,
        fingerprint -> Text,
        created_at -> BigInt,
        outcome -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    store_meta,
    messages,
    lexical_scopes,
    archived_messages,
    retention_policies,
    message_history,
    idempotency_keys
);
