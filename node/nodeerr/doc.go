// Package nodeerr is the engine's error vocabulary: the sentinel errors
// every part of the node wraps for a reason a caller can act on, and the
// mapping of the storage package's errors onto them. Package node re-exports
// the sentinels (node.ErrInvalid is nodeerr.ErrInvalid), and the one mapping
// from these errors to HTTP statuses lives above the engine.
package nodeerr
