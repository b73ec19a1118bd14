-- The last mesh metrics read (one row), so a restart shows them at once.
CREATE TABLE node_mesh (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	metrics TEXT    NOT NULL,
	read_at INTEGER NOT NULL
) STRICT;
