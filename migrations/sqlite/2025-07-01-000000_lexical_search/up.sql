-- Lexical (full-text) search and scope statistics for hybrid search.
--
-- * lexical_terms: memory_core::text::Analyzer::english().index_text(content), space-separated
--   stemmed terms, written by the store at insert (the analyzer is Rust: rows written before
--   this migration are analyzed by the store when it opens: `lexical_doc IS NULL`);
-- * lexical_length: the number of those terms (BM25's document length);
-- * lexical_doc: the message's row number in the full-text index. An explicit column rather
--   than the implicit rowid, which VACUUM may renumber on a table without INTEGER PRIMARY KEY.
ALTER TABLE messages ADD COLUMN lexical_terms TEXT;
ALTER TABLE messages ADD COLUMN lexical_length INTEGER;
ALTER TABLE messages ADD COLUMN lexical_doc INTEGER;

-- Full-text index -> message, the next free number (max), and the rows still to analyze
-- (lexical_doc IS NULL: none once the store has opened).
CREATE UNIQUE INDEX messages_lexical_doc ON messages (lexical_doc);
-- The scope statistics (count, total length) under importance_min, from the index alone.
CREATE INDEX messages_lexical_scope
    ON messages (tenant_id, conversation_id, archived, importance_score, lexical_length);

-- The full-text index of non-archived, analyzed messages (rowid = lexical_doc). Contentless:
-- the text is read from messages. Column `scope` holds two tokens, `t<hex(tenant)>` and
-- `c<hex(tenant)>x<hex(conversation)>`, so a query is restricted to its tenant or
-- conversation inside the index. The ascii tokenizer splits the analyzed text on its spaces
-- and keeps every other character (the analyzer has already lower-cased and stemmed).
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    scope,
    terms,
    content = '',
    contentless_delete = 1,
    tokenize = 'ascii'
);

-- Scope statistics without importance_min: per conversation, non-archived messages and their
-- total length; a tenant's are the sum over its conversations.
CREATE TABLE lexical_scopes (
    tenant_id       TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    documents       INTEGER NOT NULL,
    terms           INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
) WITHOUT ROWID;

INSERT INTO lexical_scopes (tenant_id, conversation_id, documents, terms)
SELECT tenant_id, conversation_id, count(*), 0
FROM messages
WHERE archived = 0
GROUP BY tenant_id, conversation_id;

-- The triggers keep messages_fts and lexical_scopes equal to messages, whoever writes.
CREATE TRIGGER messages_lexical_insert AFTER INSERT ON messages
WHEN NEW.archived = 0
BEGIN
    INSERT INTO messages_fts (rowid, scope, terms)
    SELECT NEW.lexical_doc,
           't' || hex(NEW.tenant_id) || ' c' || hex(NEW.tenant_id) || 'x' || hex(NEW.conversation_id),
           NEW.lexical_terms
    WHERE NEW.lexical_doc IS NOT NULL;
    INSERT INTO lexical_scopes (tenant_id, conversation_id, documents, terms)
    VALUES (NEW.tenant_id, NEW.conversation_id, 1, coalesce(NEW.lexical_length, 0))
    ON CONFLICT (tenant_id, conversation_id) DO UPDATE
    SET documents = documents + 1, terms = terms + excluded.terms;
END;

CREATE TRIGGER messages_lexical_delete AFTER DELETE ON messages
WHEN OLD.archived = 0
BEGIN
    DELETE FROM messages_fts WHERE rowid = OLD.lexical_doc;
    UPDATE lexical_scopes
    SET documents = documents - 1, terms = terms - coalesce(OLD.lexical_length, 0)
    WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id;
    DELETE FROM lexical_scopes
    WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id
      AND documents <= 0;
END;

CREATE TRIGGER messages_lexical_update
AFTER UPDATE OF tenant_id, conversation_id, archived, lexical_terms, lexical_length, lexical_doc
ON messages
BEGIN
    -- Out with the old row...
    DELETE FROM messages_fts WHERE rowid = OLD.lexical_doc AND OLD.archived = 0;
    UPDATE lexical_scopes
    SET documents = documents - 1, terms = terms - coalesce(OLD.lexical_length, 0)
    WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id
      AND OLD.archived = 0;
    -- ... in with the new.
    INSERT INTO messages_fts (rowid, scope, terms)
    SELECT NEW.lexical_doc,
           't' || hex(NEW.tenant_id) || ' c' || hex(NEW.tenant_id) || 'x' || hex(NEW.conversation_id),
           NEW.lexical_terms
    WHERE NEW.archived = 0 AND NEW.lexical_doc IS NOT NULL;
    INSERT INTO lexical_scopes (tenant_id, conversation_id, documents, terms)
    SELECT NEW.tenant_id, NEW.conversation_id, 1, coalesce(NEW.lexical_length, 0)
    WHERE NEW.archived = 0
    ON CONFLICT (tenant_id, conversation_id) DO UPDATE
    SET documents = documents + 1, terms = terms + excluded.terms;
    DELETE FROM lexical_scopes
    WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id
      AND documents <= 0;
END;
