-- A challenge covers a range of its shard (storage.ChallengeSpan bytes at a
-- random offset) rather than all of it. Challenges stored before have
-- range_length 0: the whole shard.
ALTER TABLE storage_audit_challenges ADD COLUMN range_offset INTEGER NOT NULL DEFAULT 0 CHECK (range_offset >= 0);
ALTER TABLE storage_audit_challenges ADD COLUMN range_length INTEGER NOT NULL DEFAULT 0 CHECK (range_length >= 0);
