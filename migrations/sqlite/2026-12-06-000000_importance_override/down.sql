ALTER TABLE archived_messages DROP COLUMN importance_override;
ALTER TABLE messages DROP COLUMN importance_override;
