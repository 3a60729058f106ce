DROP TABLE retention_policies;
DROP TABLE archived_messages;
DROP TABLE messages;
DROP TABLE store_meta;
