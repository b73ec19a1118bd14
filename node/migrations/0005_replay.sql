-- Request-signature replay state (identity.ReplayGuard), one row per
-- sender: written before a signed request is served, loaded at start, never
-- evicted. epoch and top are uint64 stored as their int64 bit pattern; seen
-- is the window bitmap of identity.ReplayState.
CREATE TABLE node_replay (
	sender TEXT    PRIMARY KEY,
	epoch  INTEGER NOT NULL,
	top    INTEGER NOT NULL,
	window INTEGER NOT NULL,
	seen   BLOB    NOT NULL
) STRICT;
