-- When each shard reached the host it is recorded on (unix ms): an owner
-- pays a host for a storage window only for shards placed before it began.
-- Shards recorded before this column existed count from their file's put.
ALTER TABLE storage_asset_shards ADD COLUMN placed_at INTEGER NOT NULL DEFAULT 0;
UPDATE storage_asset_shards SET placed_at =
	(SELECT a.created_at FROM storage_assets a WHERE a.asset_id = storage_asset_shards.asset_id);
