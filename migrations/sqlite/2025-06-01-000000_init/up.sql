-- Embedded store schema (SQLite). Same intent as migrations/postgres, in SQLite's dialect.
--
-- Conventions:
-- * ids are the 16 raw bytes of the UUID (memcmp order = UUID order);
-- * timestamps are INTEGER microseconds since the Unix epoch, UTC (exact, cheap to compare);
-- * importance_score is REAL, an 8-byte IEEE double, so 0.35 compares equal to 0.35;
-- * embeddings are little-endian f32 BLOBs of `store_meta.embedding_dimension` values.

-- Facts about the store itself: the embedding dimension and model the vectors come from.
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE messages (
    id               BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    tenant_id        TEXT    NOT NULL,
    conversation_id  TEXT    NOT NULL,
    role             TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content          TEXT    NOT NULL,
    metadata         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    importance_score REAL    NOT NULL CHECK (importance_score >= 0 AND importance_score <= 1),
    embedding        BLOB,
    embedding_status TEXT    NOT NULL CHECK (embedding_status IN ('pending', 'completed', 'failed')),
    archived         INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    archived_at      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CHECK (embedding_status <> 'completed' OR embedding IS NOT NULL)
);

-- Vector search over a tenant (disk scan, index load, counting its vectors), importance_min.
CREATE INDEX messages_tenant_search
    ON messages (tenant_id, archived, embedding_status, importance_score);
-- Vector search within one conversation.
CREATE INDEX messages_tenant_conversation
    ON messages (tenant_id, conversation_id, archived, embedding_status);
-- Archive by age; list_tenants walks its first column.
CREATE INDEX messages_tenant_created
    ON messages (tenant_id, archived, created_at);
-- The embedding worker's backlog, oldest first (queried with these literal terms).
CREATE INDEX messages_pending
    ON messages (created_at, id)
    WHERE archived = 0 AND embedding_status <> 'completed';

-- The archive: retention copies a message here and marks the original archived. Purging
-- deletes the message, and the copy with it.
CREATE TABLE archived_messages (
    id               BLOB    PRIMARY KEY NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    tenant_id        TEXT    NOT NULL,
    conversation_id  TEXT    NOT NULL,
    role             TEXT    NOT NULL,
    content          TEXT    NOT NULL,
    metadata         TEXT    NOT NULL,
    importance_score REAL    NOT NULL,
    embedding        BLOB,
    embedding_status TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    archived_at      INTEGER NOT NULL
);

-- Purge: a tenant's copies archived before a cut-off.
CREATE INDEX archived_messages_tenant_archived_at
    ON archived_messages (tenant_id, archived_at);

CREATE TABLE retention_policies (
    tenant_id            TEXT    PRIMARY KEY NOT NULL,
    max_age_days         INTEGER NOT NULL CHECK (max_age_days BETWEEN 1 AND 36500),
    importance_threshold REAL    NOT NULL CHECK (importance_threshold >= 0 AND importance_threshold <= 1),
    delete_after_days    INTEGER NOT NULL CHECK (delete_after_days BETWEEN 1 AND 36500),
    updated_at           INTEGER NOT NULL
);
