-- Named leases: one holder at a time across every process sharing this file (the retention
-- scheduler runs in one of them per interval). expires_at in microseconds since the epoch.
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY NOT NULL,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

-- The catch-up worker claims the pending messages it embeds until this instant
-- (microseconds), so the workers of several processes take disjoint batches.
ALTER TABLE messages ADD COLUMN embedding_claimed_until INTEGER;
