-- The lifecycle API: listing, the history of updates, idempotency keys.

-- Listing a tenant's messages in (created_at, id) order, archived or not, keyset-paged.
CREATE INDEX messages_tenant_list ON messages (tenant_id, created_at, id);

-- Every update of a message: who, when, the values before and after. Goes with its message
-- (ON DELETE CASCADE: delete, purge and erasure take it).
CREATE TABLE message_history (
    id             BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    message_id     BLOB    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    tenant_id      TEXT    NOT NULL,
    at             INTEGER NOT NULL,
    actor          TEXT    NOT NULL,
    old_content    TEXT    NOT NULL,
    new_content    TEXT    NOT NULL,
    old_metadata   TEXT    NOT NULL CHECK (json_valid(old_metadata)),
    new_metadata   TEXT    NOT NULL CHECK (json_valid(new_metadata)),
    old_importance REAL    NOT NULL,
    new_importance REAL    NOT NULL
);
CREATE INDEX message_history_message ON message_history (message_id, at, id);

-- Idempotency records: the outcome of a keyed write, committed with it. Per tenant; purged
-- by age.
CREATE TABLE idempotency_keys (
    tenant_id   TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
