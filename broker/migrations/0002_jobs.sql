-- Jobs this node brokers, with their module and input, so that a restart
-- resumes every unfinished one.
CREATE TABLE broker_jobs (
	id          TEXT PRIMARY KEY,
	state       TEXT NOT NULL,
	r           INTEGER NOT NULL,
	max_price   INTEGER NOT NULL,
	timeout_ms  INTEGER NOT NULL,
	module      BLOB NOT NULL,
	input       BLOB NOT NULL,
	created_ms  INTEGER NOT NULL,
	finished_ms INTEGER NOT NULL DEFAULT 0,
	output_hash TEXT NOT NULL DEFAULT '',
	output      BLOB,
	error       TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX broker_jobs_created ON broker_jobs(created_ms);
