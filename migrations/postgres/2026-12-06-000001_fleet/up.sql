-- Named leases: one holder at a time across every server process on this database (the
-- retention scheduler runs in one replica per interval). Not tenant data: under Citus, a
-- local (coordinator) table.
CREATE TABLE leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The catch-up worker claims the pending messages it embeds until this instant, so the
-- workers of several replicas take disjoint batches (claimed with FOR UPDATE SKIP LOCKED).
ALTER TABLE messages ADD COLUMN embedding_claimed_until timestamptz;
