CREATE TABLE node_settings (
	id                 INTEGER PRIMARY KEY CHECK (id = 1),
	active             INTEGER NOT NULL,
	compute_price      INTEGER NOT NULL CHECK (compute_price >= 0),
	storage_price      INTEGER NOT NULL CHECK (storage_price >= 0),
	min_oncall_percent INTEGER NOT NULL CHECK (min_oncall_percent BETWEEN 0 AND 100),
	burst_percent_max  INTEGER NOT NULL CHECK (burst_percent_max BETWEEN 0 AND 100),
	updated_at         INTEGER NOT NULL
) STRICT;
CREATE TABLE node_state (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;
