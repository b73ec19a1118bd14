-- The hosts a job is restricted to (node IDs or endpoints, one a line);
-- empty for any host of the peer table. Kept so a resumed job and its
-- failover stay within them.
ALTER TABLE broker_jobs ADD COLUMN hosts TEXT NOT NULL DEFAULT '';
