-- Audit challenges the owner precomputed for each shard while it held the
-- shard's bytes (at put, at repair, after a full read): a random nonce and
-- the keyed BLAKE3 the host must answer. Each is used once.
CREATE TABLE storage_audit_challenges (
	asset_id TEXT    NOT NULL REFERENCES storage_assets(asset_id) ON DELETE CASCADE,
	stripe   INTEGER NOT NULL CHECK (stripe >= 0),
	idx      INTEGER NOT NULL CHECK (idx >= 0 AND idx <= 255),
	nonce    TEXT    NOT NULL,
	expected TEXT    NOT NULL,
	PRIMARY KEY (asset_id, stripe, idx, nonce)
) STRICT;

-- Audit outcomes per host: failed audits lower the host's placement weight.
CREATE TABLE storage_audit_hosts (
	host_id TEXT    PRIMARY KEY,
	passed  INTEGER NOT NULL DEFAULT 0,
	failed  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Audit outcomes per file, shown with its health.
CREATE TABLE storage_audit_assets (
	asset_id TEXT    PRIMARY KEY REFERENCES storage_assets(asset_id) ON DELETE CASCADE,
	passed   INTEGER NOT NULL DEFAULT 0,
	failed   INTEGER NOT NULL DEFAULT 0
) STRICT;
