-- Storage billing, the owner's side (node.billStorage): per host, the end
-- (unix seconds) of the newest window the host billed this node for or
-- refused to, so that the next round, after a restart too, asks for the
-- windows after it and no others. Rows older than the rounds look back are
-- deleted.
CREATE TABLE node_storage_billed (
	host  TEXT    PRIMARY KEY,
	until INTEGER NOT NULL
) STRICT;
