-- A host's lease on each shard it keeps for another node: when the node
-- that stored it last claimed it (storing counts as a claim). Shards nobody
-- claimed for the grace period are collected (ShardStore.Collect).
ALTER TABLE storage_shards ADD COLUMN claimed_at INTEGER NOT NULL DEFAULT 0;
UPDATE storage_shards SET claimed_at = stored_at;
CREATE INDEX storage_shards_claimed ON storage_shards(claimed_at);

-- Shards of forgotten assets an owner still has to ask their hosts to drop
-- (Catalog.Forget); retried until the host answers, at most
-- MaxPendingDeletions rows and never longer than the hosts' grace period.
CREATE TABLE storage_deletions (
	host_id    TEXT    NOT NULL,
	endpoint   TEXT    NOT NULL,
	asset_id   TEXT    NOT NULL,
	stripe     INTEGER NOT NULL CHECK (stripe >= 0),
	idx        INTEGER NOT NULL CHECK (idx >= 0 AND idx <= 255),
	created_at INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (host_id, asset_id, stripe, idx)
) STRICT;
CREATE INDEX storage_deletions_created ON storage_deletions(created_at);
