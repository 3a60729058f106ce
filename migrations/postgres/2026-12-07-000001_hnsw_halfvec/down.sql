DROP INDEX messages_embedding_hnsw_idx;
CREATE INDEX messages_embedding_hnsw_idx ON messages
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE NOT archived AND in_hnsw;
