ALTER TABLE messages DROP COLUMN embedding_claimed_until;
DROP TABLE leases;
