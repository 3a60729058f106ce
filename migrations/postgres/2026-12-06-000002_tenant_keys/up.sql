-- Shard-ready keys (docs/scale-out.md): Citus, distributing the tenant tables by tenant_id,
-- requires the distribution column in every primary key, unique constraint and foreign key
-- between them. Ids stay unique on their own (UUID v7, made by the server); the keys now say
-- which tenant a row belongs to as well. On a big table this rebuilds the primary key index:
-- run it in a maintenance window (it takes an exclusive lock while it builds).
ALTER TABLE archived_messages DROP CONSTRAINT archived_messages_id_fkey;
ALTER TABLE message_history DROP CONSTRAINT message_history_message_id_fkey;

ALTER TABLE messages DROP CONSTRAINT messages_pkey, ADD PRIMARY KEY (tenant_id, id);
-- Reads by id alone (GET /v1/messages/{id} names no tenant).
CREATE INDEX messages_id_idx ON messages (id);

ALTER TABLE archived_messages DROP CONSTRAINT archived_messages_pkey,
    ADD PRIMARY KEY (tenant_id, id),
    ADD CONSTRAINT archived_messages_message_fkey FOREIGN KEY (tenant_id, id)
        REFERENCES messages (tenant_id, id) ON DELETE CASCADE;

ALTER TABLE message_history DROP CONSTRAINT message_history_pkey,
    ADD PRIMARY KEY (tenant_id, id),
    ADD CONSTRAINT message_history_message_fkey FOREIGN KEY (tenant_id, message_id)
        REFERENCES messages (tenant_id, id) ON DELETE CASCADE;
