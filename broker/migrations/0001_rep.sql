-- Hits and misses per observer and host: this node's own (observer = its ID)
-- and others' merged from signed records (max per field).
CREATE TABLE broker_rep (
	observer TEXT NOT NULL,
	subject  TEXT NOT NULL,
	hits     INTEGER NOT NULL DEFAULT 0,
	misses   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (observer, subject)
) STRICT;
