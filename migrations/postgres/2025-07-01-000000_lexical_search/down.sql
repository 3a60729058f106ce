DROP INDEX IF EXISTS messages_tenant_conversation_idx;
DROP INDEX IF EXISTS messages_lexical_scope_idx;
DROP INDEX IF EXISTS messages_lexical_idx;
ALTER TABLE messages DROP COLUMN IF EXISTS lexical_tsv;
ALTER TABLE messages DROP COLUMN IF EXISTS lexical_length;
ALTER TABLE messages DROP COLUMN IF EXISTS lexical_terms;
