-- The node's own history for the dashboard's overview: one row per sample
-- (every minute by default), kept for a bounded time (7 days by default:
-- about 10,000 rows). bytes_in and bytes_out are shard bytes moved during
-- the interval before the sample; the rest are values at the sample.
CREATE TABLE node_history (
	at            INTEGER PRIMARY KEY,
	peers_up      INTEGER NOT NULL,
	peers_total   INTEGER NOT NULL,
	bytes_in      INTEGER NOT NULL,
	bytes_out     INTEGER NOT NULL,
	shards_hosted INTEGER NOT NULL,
	hosted_bytes  INTEGER NOT NULL,
	files_owned   INTEGER NOT NULL,
	files_healthy INTEGER NOT NULL,
	disk_used     INTEGER NOT NULL,
	disk_free     INTEGER NOT NULL
) STRICT;
