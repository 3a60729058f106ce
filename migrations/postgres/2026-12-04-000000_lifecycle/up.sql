-- The lifecycle API: listing, the history of updates, idempotency keys.

-- Listing a tenant's messages in (created_at, id) order, archived or not, keyset-paged. It
-- replaces messages_tenant_created_idx (same leading columns: the loose index scan of
-- list_tenants and archiving by age use it just as well).
CREATE INDEX messages_tenant_list_idx ON messages (tenant_id, created_at, id);
DROP INDEX messages_tenant_created_idx;

-- Every update of a message: who, when, the values before and after. Goes with its message
-- (ON DELETE CASCADE: delete, purge and erasure take it).
CREATE TABLE message_history (
    id             uuid PRIMARY KEY,
    message_id     uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    tenant_id      text NOT NULL,
    at             timestamptz NOT NULL,
    actor          text NOT NULL,
    old_content    text NOT NULL,
    new_content    text NOT NULL,
    old_metadata   jsonb NOT NULL,
    new_metadata   jsonb NOT NULL,
    old_importance double precision NOT NULL,
    new_importance double precision NOT NULL
);
CREATE INDEX message_history_message_idx ON message_history (message_id, at, id);

-- Idempotency records: the outcome of a keyed write, committed with it. Per tenant; purged
-- by age.
CREATE TABLE idempotency_keys (
    tenant_id   text NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL,
    outcome     text NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
