-- Version 2 receipts name a consumer, who accepts them by signing their ID.
-- consumer_id copies the receipt's field ('' for version 1); accepted is 1
-- once receipt_json carries the consumer's acceptance.
ALTER TABLE ledger_receipts ADD COLUMN consumer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger_receipts ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0 CHECK (accepted IN (0, 1));

CREATE INDEX ledger_receipts_accepted ON ledger_receipts (consumer_id, seq) WHERE accepted = 1;
