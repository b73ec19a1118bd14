-- The store-and-forward queue: items addressed to a node, queued here by
-- this node or carried for another one. hash is SHA-256 over dest, kind and
-- payload (see Item.Hash): one copy per item. expires_at is unix ms by this
-- node's clock (a carried item's lifetime travels as a remaining duration).
CREATE TABLE ledgersync_outbox (
	id         INTEGER PRIMARY KEY,
	hash       BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
	dest       TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	payload    BLOB    NOT NULL,
	origin     TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX ledgersync_outbox_expiry ON ledgersync_outbox (expires_at);

-- The carriers an item was handed to: each gets it once.
CREATE TABLE ledgersync_outbox_handed (
	item    INTEGER NOT NULL,
	carrier TEXT    NOT NULL,
	PRIMARY KEY (item, carrier)
) STRICT, WITHOUT ROWID;

-- Items this node is done with (handled as their destination, or delivered
-- as a carrier), kept until they expire so that a second copy changes
-- nothing.
CREATE TABLE ledgersync_seen (
	hash       BLOB    PRIMARY KEY CHECK (length(hash) = 32),
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX ledgersync_seen_expiry ON ledgersync_seen (expires_at);
