-- The client's own importance (POST importance_override, or a PATCH), kept beside the score it
-- was weighted into, so readers can tell a chosen importance from a scored one. NULL: none.
ALTER TABLE messages ADD COLUMN importance_override REAL;
ALTER TABLE archived_messages ADD COLUMN importance_override REAL;
