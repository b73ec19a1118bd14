-- The installed cluster document (one row, its canonical signed bytes);
-- node/trust reads and writes it. No row: the node runs alone.
CREATE TABLE node_cluster (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	document BLOB    NOT NULL,
	serial   INTEGER NOT NULL
) STRICT;
