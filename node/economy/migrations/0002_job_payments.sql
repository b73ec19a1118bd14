-- Payments for brokered jobs this node signed: one row per (job, host),
-- written in the SQLite transaction that pools the payment, so that a job
-- is paid to a host at most once however often the broker accepts it
-- (a restart resumes a job it may have paid before finishing).
CREATE TABLE node_econ_job_paid (
	job_id  TEXT NOT NULL,
	host    TEXT NOT NULL,
	tx_id   BLOB NOT NULL,
	amount  INTEGER NOT NULL,
	created INTEGER NOT NULL,
	PRIMARY KEY (job_id, host)
) STRICT;
