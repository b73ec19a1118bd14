-- Settlement (economy/settle.go). Its own migration component, "settle".

-- Consumer side: receipts this node accepted and owes for. paid is 1 once
-- the transactions that pay it are signed and stored in settle_txs: that
-- happens in one SQLite transaction with the rows of settle_paid, so a
-- receipt is never put into a second payment.
CREATE TABLE settle_owed (
	receipt_id   BLOB    PRIMARY KEY CHECK (length(receipt_id) = 32),
	host         TEXT    NOT NULL,
	reward       INTEGER NOT NULL CHECK (reward > 0),
	added        INTEGER NOT NULL UNIQUE,
	paid         INTEGER NOT NULL DEFAULT 0 CHECK (paid IN (0, 1)),
	receipt_json TEXT    NOT NULL
) STRICT;
CREATE INDEX settle_owed_unpaid ON settle_owed (added) WHERE paid = 0;

-- The transaction that pays each part of a receipt: role 'host' (to the
-- host) or 'reserve' (host_reserve, to the system account).
CREATE TABLE settle_paid (
	receipt_id BLOB NOT NULL CHECK (length(receipt_id) = 32),
	role       TEXT NOT NULL CHECK (role IN ('host', 'reserve')),
	tx_hash    BLOB NOT NULL CHECK (length(tx_hash) = 32),
	PRIMARY KEY (receipt_id, role)
) STRICT;

-- The node's signed settlement transactions. state 0: sent until its
-- certificate is seen (a restart sends the same bytes again, never a new
-- transaction); 1: final.
CREATE TABLE settle_txs (
	tx_hash BLOB    PRIMARY KEY CHECK (length(tx_hash) = 32),
	nonce   INTEGER NOT NULL UNIQUE CHECK (nonce > 0),
	cost    INTEGER NOT NULL CHECK (cost > 0),
	tx      BLOB    NOT NULL,
	state   INTEGER NOT NULL CHECK (state IN (0, 1))
) STRICT;
CREATE INDEX settle_txs_pending ON settle_txs (nonce) WHERE state = 0;

-- Witness side: which transaction of a payer claims each part of a
-- receipt. The first settlement a witness validates claims it; a
-- certificate's claim wins over a claim that was never certified
-- (certified = 1). The payer is part of the key: a node that names another
-- consumer's receipt pays out of its own pocket and cannot block the
-- consumer's payment.
CREATE TABLE settle_claims (
	receipt_id BLOB    NOT NULL CHECK (length(receipt_id) = 32),
	role       TEXT    NOT NULL CHECK (role IN ('host', 'reserve')),
	src        TEXT    NOT NULL,
	tx_hash    BLOB    NOT NULL CHECK (length(tx_hash) = 32),
	certified  INTEGER NOT NULL CHECK (certified IN (0, 1)),
	PRIMARY KEY (receipt_id, role, src)
) STRICT;

-- How far the claims index has read the economy ledger's certificates.
CREATE TABLE settle_cursor (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	after INTEGER NOT NULL
) STRICT;
