-- Hybrid search: each message's analyzed text (memory_core::text::Analyzer::index_text,
-- stemmed terms separated by spaces), written by the store at insert. NULL means not
-- analyzed yet: the store backfills such rows when it connects.
ALTER TABLE messages ADD COLUMN lexical_terms text;
ALTER TABLE messages ADD COLUMN lexical_length integer;
-- The terms as a tsvector, stored so that matching and ranking never re-parse the text. The
-- terms are already analyzed, so the 'simple' configuration only splits on the spaces.
ALTER TABLE messages ADD COLUMN lexical_tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', coalesce(lexical_terms, ''))) STORED;

-- lexical_candidates: messages containing any query term.
CREATE INDEX messages_lexical_idx ON messages USING gin (lexical_tsv) WHERE NOT archived;

-- The scope statistics BM25 needs (count, average length), index-only.
CREATE INDEX messages_lexical_scope_idx ON messages (tenant_id, conversation_id, importance_score)
    INCLUDE (lexical_length) WHERE NOT archived;

-- Erasure of a conversation.
CREATE INDEX messages_tenant_conversation_idx ON messages (tenant_id, conversation_id);
