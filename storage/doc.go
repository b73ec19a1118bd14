// Package storage owns the data path of stored files. So far it holds the
// shard store: a host's durable store of shards that other nodes send it.
//
// # Shard store layout
//
// Shard bytes live in files, content-addressed by their BLAKE3-256 hash:
// DIR/blobs/HH/HASH, where HH are the first two hex digits. A file is written
// to a temporary name, fsync'd and renamed into place, so a crash never
// leaves a partial blob under a real name. The table storage_shards maps
// (asset_id, idx) to the hash, size and time stored. Every write checks the
// bytes against the expected hash (when the sender gives one) and every read
// checks the blob against its hash before serving it; a blob that fails is
// moved aside to DIR/quarantine and its row removed.
package storage
