-- AI Memory Layer: messages, their archive copies, per-tenant retention policies.
-- See docs/storage-postgres.md for the queries each index serves.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE messages (
    id               uuid PRIMARY KEY,
    tenant_id        text NOT NULL CHECK (char_length(tenant_id) BETWEEN 1 AND 64),
    conversation_id  text NOT NULL CHECK (char_length(conversation_id) BETWEEN 1 AND 128),
    role             text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content          text NOT NULL,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    -- DOUBLE PRECISION, never REAL: 0.35 must compare equal to the threshold 0.35.
    importance_score double precision NOT NULL CHECK (importance_score BETWEEN 0 AND 1),
    -- The model's dimension; NULL while the embedding is pending (or failed).
    embedding        vector(384),
    embedding_status text NOT NULL DEFAULT 'pending'
                     CHECK (embedding_status IN ('pending', 'completed', 'failed')),
    archived         boolean NOT NULL DEFAULT false,
    archived_at      timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT messages_embedding_iff_completed
        CHECK ((embedding_status = 'completed') = (embedding IS NOT NULL)),
    CONSTRAINT messages_archived_at_iff_archived
        CHECK (archived = (archived_at IS NOT NULL))
);

-- list_tenants (a loose index scan over tenant_id) and archive's age arm.
CREATE INDEX messages_tenant_created_idx ON messages (tenant_id, created_at);
-- archive's importance arm.
CREATE INDEX messages_tenant_importance_idx ON messages (tenant_id, importance_score)
    WHERE NOT archived;
-- Search in small scopes (exact scan of a tenant's or conversation's vectors) and the capped
-- count that decides between the exact scan and the HNSW index.
CREATE INDEX messages_search_scope_idx ON messages (tenant_id, conversation_id, importance_score)
    WHERE NOT archived AND embedding_status = 'completed';
-- pending_embeddings: oldest first.
CREATE INDEX messages_pending_idx ON messages (created_at, id)
    WHERE NOT archived AND embedding_status <> 'completed';
-- Search in large scopes: approximate nearest neighbours by cosine distance.
CREATE INDEX messages_embedding_hnsw_idx ON messages
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE NOT archived;

-- Retention copies archived messages here; purging deletes the message, and with it the copy.
CREATE TABLE archived_messages (
    id               uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    tenant_id        text NOT NULL,
    conversation_id  text NOT NULL,
    role             text NOT NULL,
    content          text NOT NULL,
    metadata         jsonb NOT NULL,
    importance_score double precision NOT NULL,
    embedding        vector(384),
    embedding_status text NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    archived_at      timestamptz NOT NULL
);

-- purge_archived.
CREATE INDEX archived_messages_purge_idx ON archived_messages (tenant_id, archived_at);

CREATE TABLE retention_policies (
    tenant_id            text PRIMARY KEY CHECK (char_length(tenant_id) BETWEEN 1 AND 64),
    max_age_days         integer NOT NULL CHECK (max_age_days BETWEEN 1 AND 36500),
    importance_threshold double precision NOT NULL CHECK (importance_threshold BETWEEN 0 AND 1),
    delete_after_days    integer NOT NULL CHECK (delete_after_days BETWEEN 1 AND 36500),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
