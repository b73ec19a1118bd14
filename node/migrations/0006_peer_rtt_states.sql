-- The latest round-trip time measured to each peer (rtt_us microseconds,
-- 0 before any; rtt_via says how: 'poll' is a static peer's announce
-- request, 'gossip' a memberlist probe; rtt_at when, Unix milliseconds).
ALTER TABLE node_peers ADD COLUMN rtt_us  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE node_peers ADD COLUMN rtt_via TEXT    NOT NULL DEFAULT '';
ALTER TABLE node_peers ADD COLUMN rtt_at  INTEGER NOT NULL DEFAULT 0;

-- Each peer's state changes, for its up/down timeline. Rows older than the
-- timeline's window are deleted except the newest one of each peer (the
-- state the window starts in), so the table stays bounded.
CREATE TABLE node_peer_states (
	endpoint TEXT    NOT NULL,
	at       INTEGER NOT NULL,
	state    TEXT    NOT NULL CHECK (state IN ('unknown', 'up', 'down'))
) STRICT;
CREATE INDEX node_peer_states_endpoint_at ON node_peer_states(endpoint, at);
