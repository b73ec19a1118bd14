-- Quorums: a subject (an upload, a job, a token) of one kind that needs
-- acks whose weight reaches required. created_at and at are unix ms.
CREATE TABLE quorum_quorums (
	kind       TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	required   REAL    NOT NULL CHECK (required > 0),
	created_at INTEGER NOT NULL,
	PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

-- One ack per node and quorum (a repeated ack refreshes its time).
CREATE TABLE quorum_acks (
	kind TEXT    NOT NULL,
	id   TEXT    NOT NULL,
	node TEXT    NOT NULL,
	at   INTEGER NOT NULL,
	PRIMARY KEY (kind, id, node)
) STRICT, WITHOUT ROWID;

-- The policy (one row): default weight, per-node weights, per-kind decay.
CREATE TABLE quorum_policy (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	policy TEXT    NOT NULL
) STRICT;
