-- This node's own signed transactions that are not final yet: kept so that
-- a restart never signs a second transaction for a nonce it already used
-- (that would be an equivocation), and so that the auto-finalizer resumes
-- them. Certificates live in the economy package's tables.
CREATE TABLE node_econ_pool (
	tx_id   BLOB PRIMARY KEY,
	nonce   INTEGER NOT NULL,
	tx      BLOB NOT NULL,
	manual  INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
) STRICT;
