-- Blocks (see block.go): each commits its author to a run of the author's
-- receipts and names its parents, so the blocks of a cluster form a DAG.
-- arrival is the local order blocks were stored in (for listings only);
-- block_json is the block as DecodeBlock reads it.
CREATE TABLE ledger_blocks (
	arrival    INTEGER PRIMARY KEY AUTOINCREMENT,
	name       BLOB    NOT NULL UNIQUE CHECK (length(name) = 32),
	author     TEXT    NOT NULL,
	height     INTEGER NOT NULL CHECK (height > 0),
	receipts   INTEGER NOT NULL CHECK (receipts >= 0),
	first_seq  INTEGER NOT NULL,
	last_seq   INTEGER NOT NULL,
	block_json TEXT    NOT NULL,
	-- One block per author and height: a second one is a fork, refused.
	UNIQUE (author, height)
) STRICT;

-- The DAG's edges, child to parent.
CREATE TABLE ledger_block_parents (
	child  BLOB NOT NULL,
	parent BLOB NOT NULL,
	PRIMARY KEY (child, parent)
) STRICT, WITHOUT ROWID;

-- The tips: stored blocks no stored block names as a parent. A new block
-- enters and removes its parents, so finding them reads no edges.
CREATE TABLE ledger_block_tips (
	name BLOB PRIMARY KEY
) STRICT, WITHOUT ROWID;
