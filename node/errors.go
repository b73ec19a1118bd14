package node

import "github.com/offgrid-net/offgrid/node/nodeerr"

// Errors the API and the dashboard map to HTTP statuses (package problem).
// They are the engine's errors of package node/nodeerr, re-exported here
// and documented there: every error a Node method returns for a reason the
// caller can act on wraps one of these.
var (
	ErrInvalid      = nodeerr.ErrInvalid
	ErrNotFound     = nodeerr.ErrNotFound
	ErrInactive     = nodeerr.ErrInactive
	ErrConflict     = nodeerr.ErrConflict
	ErrBusy         = nodeerr.ErrBusy
	ErrTooLarge     = nodeerr.ErrTooLarge
	ErrCorrupt      = nodeerr.ErrCorrupt
	ErrUnavailable  = nodeerr.ErrUnavailable
	ErrStopped      = nodeerr.ErrStopped
	ErrBadSignature = nodeerr.ErrBadSignature
	ErrNoSpace      = nodeerr.ErrNoSpace
	ErrNotMember    = nodeerr.ErrNotMember
	ErrForbidden    = nodeerr.ErrForbidden
)
