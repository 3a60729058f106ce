-- Only large tenants' vectors go into the HNSW index (docs/storage-postgres.md, "Which rows
-- the HNSW index holds"). Small scopes are always searched exactly, so indexing their rows
-- only cost every insert a graph insertion (most of Postgres's work per write).

-- Tenants with at least exact_scan_threshold searchable rows. Their new rows are indexed at
-- insert (messages_in_hnsw_trg); the store promotes the rows they had before.
CREATE TABLE large_tenants (
    tenant_id text PRIMARY KEY CHECK (char_length(tenant_id) BETWEEN 1 AND 64),
    marked_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO large_tenants (tenant_id)
    SELECT tenant_id FROM messages
    WHERE NOT archived AND embedding_status = 'completed'
    GROUP BY tenant_id HAVING count(*) >= 10000;

-- Whether the row is in the HNSW index. Rows stored before this migration keep their place
-- (the column's first default: no table rewrite); new rows are not, unless their tenant is
-- large.
ALTER TABLE messages ADD COLUMN in_hnsw boolean NOT NULL DEFAULT true;
ALTER TABLE messages ALTER COLUMN in_hnsw SET DEFAULT false;

CREATE FUNCTION messages_in_hnsw() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.in_hnsw := NEW.in_hnsw OR EXISTS (
        SELECT 1 FROM large_tenants WHERE tenant_id = NEW.tenant_id);
    RETURN NEW;
END
$$;
CREATE TRIGGER messages_in_hnsw_trg BEFORE INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_in_hnsw();

-- Rebuilt with the new predicate (minutes at millions of rows; see the upgrade notes).
DROP INDEX messages_embedding_hnsw_idx;
CREATE INDEX messages_embedding_hnsw_idx ON messages
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE NOT archived AND in_hnsw;

-- A large scope's rows not (yet) in the index, searched exactly beside it; and promotion.
CREATE INDEX messages_unindexed_idx ON messages (tenant_id, conversation_id)
    WHERE NOT archived AND embedding_status = 'completed' AND NOT in_hnsw;
