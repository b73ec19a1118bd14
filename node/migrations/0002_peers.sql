-- The peer table: every source (static configuration, beacons on any
-- transport, gossip membership) merges into it, one transaction per
-- observation. Keyed by the peer's API endpoint.
CREATE TABLE node_peers (
	endpoint  TEXT    PRIMARY KEY,
	node_id   TEXT    NOT NULL DEFAULT '',
	name      TEXT    NOT NULL DEFAULT '',
	via       TEXT    NOT NULL,
	state     TEXT    NOT NULL CHECK (state IN ('unknown', 'up', 'down')),
	active    INTEGER NOT NULL DEFAULT 0,
	gossip    INTEGER NOT NULL DEFAULT 0,
	static    INTEGER NOT NULL DEFAULT 0,
	last_seen INTEGER NOT NULL DEFAULT 0
) STRICT;
