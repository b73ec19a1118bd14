-- Files this node stored across the mesh (it is their owner): the manifest.
CREATE TABLE storage_assets (
	asset_id   TEXT    PRIMARY KEY,
	owner      TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	size       INTEGER NOT NULL,
	file_hash  TEXT    NOT NULL,
	mode       TEXT    NOT NULL CHECK (mode IN ('ec', 'rep')),
	k          INTEGER NOT NULL CHECK (k >= 1),
	n          INTEGER NOT NULL CHECK (n >= k AND n <= 256),
	shard_size INTEGER NOT NULL CHECK (shard_size >= 1),
	stripes    INTEGER NOT NULL CHECK (stripes >= 0),
	adaptive   INTEGER NOT NULL,
	keys_json  TEXT    NOT NULL,
	policy     TEXT,
	state      TEXT    NOT NULL CHECK (state IN ('pending', 'stored', 'degraded', 'lost')),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

-- Where each shard of each stripe lives. A row exists once a host
-- acknowledged the shard; live turns 0 when the host is gone or the shard
-- failed a check.
CREATE TABLE storage_asset_shards (
	asset_id TEXT    NOT NULL REFERENCES storage_assets(asset_id) ON DELETE CASCADE,
	stripe   INTEGER NOT NULL CHECK (stripe >= 0),
	idx      INTEGER NOT NULL CHECK (idx >= 0 AND idx <= 255),
	hash     TEXT    NOT NULL,
	host_id  TEXT    NOT NULL,
	endpoint TEXT    NOT NULL,
	live     INTEGER NOT NULL,
	PRIMARY KEY (asset_id, stripe, idx)
) STRICT;
