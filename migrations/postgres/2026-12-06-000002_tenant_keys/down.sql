ALTER TABLE message_history DROP CONSTRAINT message_history_message_fkey,
    DROP CONSTRAINT message_history_pkey, ADD PRIMARY KEY (id);
ALTER TABLE archived_messages DROP CONSTRAINT archived_messages_message_fkey,
    DROP CONSTRAINT archived_messages_pkey, ADD PRIMARY KEY (id);
DROP INDEX messages_id_idx;
ALTER TABLE messages DROP CONSTRAINT messages_pkey, ADD PRIMARY KEY (id);
ALTER TABLE archived_messages ADD CONSTRAINT archived_messages_id_fkey FOREIGN KEY (id)
    REFERENCES messages (id) ON DELETE CASCADE;
ALTER TABLE message_history ADD CONSTRAINT message_history_message_id_fkey
    FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE;
