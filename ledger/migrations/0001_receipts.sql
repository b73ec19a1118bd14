-- The node's own signed receipts. receipt_json is the receipt's JSON as
-- written by Receipt.MarshalJSON; the other columns copy fields for queries.
CREATE TABLE ledger_receipts (
	seq           INTEGER PRIMARY KEY CHECK (seq > 0),
	job_id        TEXT    NOT NULL,
	resource_type TEXT    NOT NULL,
	units         INTEGER NOT NULL CHECK (units >= 0),
	issued_at     INTEGER NOT NULL,
	receipt_json  TEXT    NOT NULL
) STRICT;

-- A host signs one receipt per job and resource: a repeated job is refused,
-- so the same work is never paid twice.
CREATE UNIQUE INDEX ledger_receipts_job ON ledger_receipts (job_id, resource_type);
