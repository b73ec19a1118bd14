-- Certificates this node has seen. state 1: applied (its effect is in
-- economy_balances); state 0: waiting for the certificates it depends on
-- (its source's previous nonce, or credits that let the source pay).
-- seq (the rowid: rows are never deleted) orders arrival; a certificate is applied exactly once because its
-- hash is the key and at most one is applied per (src, nonce). src, dst,
-- amount and fee copy the transaction's fields (cert is the verified
-- certificate as received), so applying needs no decoding.
CREATE TABLE economy_certs (
	seq    INTEGER PRIMARY KEY,
	hash   BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
	src    TEXT    NOT NULL,
	nonce  INTEGER NOT NULL CHECK (nonce > 0),
	dst    TEXT    NOT NULL,
	amount INTEGER NOT NULL CHECK (amount > 0),
	fee    INTEGER NOT NULL CHECK (fee >= 0),
	epoch  INTEGER NOT NULL,
	state  INTEGER NOT NULL CHECK (state IN (0, 1)),
	cert   BLOB    NOT NULL
) STRICT;
CREATE UNIQUE INDEX economy_certs_applied ON economy_certs (src, nonce) WHERE state = 1;
CREATE INDEX economy_certs_seq ON economy_certs (state, seq);

-- Balances in micro-credits: genesis plus the applied certificates. The
-- CHECK is the last guard of "a balance never goes negative".
CREATE TABLE economy_balances (
	account TEXT    PRIMARY KEY,
	balance INTEGER NOT NULL CHECK (balance >= 0)
) STRICT;

-- Counters: 'genesis' (the genesis supply), 'issued' (sum of applied issuance).
CREATE TABLE economy_meta (
	key   TEXT    PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;

-- A witness's lock per (src, nonce): the transaction it voted for in the
-- current round (NULL: none yet), and whether it reported the round for
-- recovery (then it votes in that round no more).
CREATE TABLE economy_locks (
	src      TEXT    NOT NULL,
	nonce    INTEGER NOT NULL CHECK (nonce > 0),
	round    INTEGER NOT NULL CHECK (round >= 0),
	tx_hash  BLOB    CHECK (tx_hash IS NULL OR length(tx_hash) = 32),
	reported INTEGER NOT NULL CHECK (reported IN (0, 1)),
	PRIMARY KEY (src, nonce)
) STRICT;
