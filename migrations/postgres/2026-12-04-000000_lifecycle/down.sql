DROP TABLE idempotency_keys;
DROP TABLE message_history;
CREATE INDEX messages_tenant_created_idx ON messages (tenant_id, created_at);
DROP INDEX messages_tenant_list_idx;
