-- The vector extension stays: other schemas of the database may use it.
DROP TABLE IF EXISTS retention_policies;
DROP TABLE IF EXISTS archived_messages;
DROP TABLE IF EXISTS messages;
