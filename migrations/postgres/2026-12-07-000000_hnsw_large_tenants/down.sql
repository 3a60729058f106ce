DROP INDEX messages_unindexed_idx;
DROP INDEX messages_embedding_hnsw_idx;
DROP TRIGGER messages_in_hnsw_trg ON messages;
DROP FUNCTION messages_in_hnsw();
ALTER TABLE messages DROP COLUMN in_hnsw;
DROP TABLE large_tenants;
CREATE INDEX messages_embedding_hnsw_idx ON messages
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE NOT archived;
