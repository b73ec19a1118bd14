package node

import "github.com/offgrid-net/offgrid/node/nodeerr"

// Errors the API and the dashboard map to HTTP statuses (package problem).
// They are the engine's errors of package node/nodeerr: every error a Node
// method returns for a reason the caller can act on wraps one of these.
var (
	// ErrInvalid: the request is malformed or out of range.
	ErrInvalid = nodeerr.ErrInvalid
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = nodeerr.ErrNotFound
	// ErrInactive: the host is switched off and refuses work.
	ErrInactive = nodeerr.ErrInactive
	// ErrConflict: the request contradicts what is stored.
	ErrConflict = nodeerr.ErrConflict
	// ErrBusy: a concurrency limit is reached; retry later.
	ErrBusy = nodeerr.ErrBusy
	// ErrTooLarge: the request body exceeds a size limit.
	ErrTooLarge = nodeerr.ErrTooLarge
	// ErrCorrupt: stored data failed its integrity check.
	ErrCorrupt = nodeerr.ErrCorrupt
	// ErrUnavailable: a dependency of the request (a file, a daemon, enough
	// live hosts) cannot be reached.
	ErrUnavailable = nodeerr.ErrUnavailable
	// ErrStopped: the node's Run has returned.
	ErrStopped = nodeerr.ErrStopped
	// ErrBadSignature: the data is not what its sender signed (a signed
	// shard upload whose bytes do not match the signed digest). Nothing
	// was kept.
	ErrBadSignature = nodeerr.ErrBadSignature
)

var (
	invalidf   = nodeerr.Invalidf
	storageErr = nodeerr.FromStorage
)
