-- The client's own importance (POST importance_override, or a PATCH), kept beside the score it
-- was weighted into, so readers can tell a chosen importance from a scored one. NULL: none.
-- Adding a nullable column without a default rewrites nothing (a catalog change only).
ALTER TABLE messages ADD COLUMN importance_override double precision;
ALTER TABLE archived_messages ADD COLUMN importance_override double precision;
