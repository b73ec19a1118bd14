CREATE TABLE storage_shards (
	asset_id  TEXT    NOT NULL,
	idx       INTEGER NOT NULL CHECK (idx >= 0 AND idx <= 255),
	hash      TEXT    NOT NULL,
	size      INTEGER NOT NULL CHECK (size >= 0),
	stored_by TEXT    NOT NULL,
	stored_at INTEGER NOT NULL,
	PRIMARY KEY (asset_id, idx)
) STRICT;
CREATE INDEX storage_shards_hash ON storage_shards(hash);
