//! Diesel's view of the tables created by `migrations/postgres`.

diesel::table! {
    use diesel::sql_types::*;
    use pgvector::sql_types::Vector;

    messages (id) {
        id -> Uuid,
        tenant_id -> Text,
        conversation_id -> Text,
        role -> Text,
        content -> Text,
        metadata -> Jsonb,
        importance_score -> Double,
        importance_override -> Nullable<Double>,
        embedding -> Nullable<Vector>,
        embedding_status -> Text,
        archived -> Bool,
        archived_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        lexical_terms -> Nullable<Text>,
        lexical_length -> Nullable<Integer>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use pgvector::sql_types::Vector;

    archived_messages (id) {
        id -> Uuid,
        tenant_id -> Text,
        conversation_id -> Text,
        role -> Text,
        content -> Text,
        metadata -> Jsonb,
        importance_score -> Double,
        importance_override -> Nullable<Double>,
        embedding -> Nullable<Vector>,
        embedding_status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        archived_at -> Timestamptz,
    }
}

diesel::table! {
    retention_policies (tenant_id) {
        tenant_id -> Text,
        max_age_days -> Integer,
        importance_threshold -> Double,
        delete_after_days -> Integer,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    message_history (id) {
        id -> Uuid,
        message_id -> Uuid,
        tenant_id -> Text,
        at -> Timestamptz,
        actor -> Text,
        old_content -> Text,
        new_content -> Text,
        old_metadata -> Jsonb,
        new_metadata -> Jsonb,
        old_importance -> Double,
        new_importance -> Double,
    }
}

diesel::table! {
    idempotency_keys (tenant_id, key) {
        tenant_id -> Text,
        key -> Text,
        fingerprint -> Text,
        created_at -> Timestamptz,
        outcome -> Text,
    }
}

diesel::joinable!(archived_messages -> messages (id));
diesel::allow_tables_to_appear_in_same_query!(
    messages,
    archived_messages,
    retention_policies,
    message_history,
    idempotency_keys
);
