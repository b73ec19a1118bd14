-- A host finds the newest receipt of one consumer and resource (the last
-- storage window it billed an owner for) without reading the others.
CREATE INDEX ledger_receipts_consumer ON ledger_receipts (consumer_id, resource_type, seq);
