DROP TABLE idempotency_keys;
DROP TABLE message_history;
DROP INDEX messages_tenant_list;
