package nodeerr

import (
	"errors"
	"fmt"

	"github.com/offgrid-net/offgrid/storage"
)

// The engine's errors. Every error a part of the node returns for a reason
// the caller can act on wraps one of these.
var (
	// ErrInvalid: the request is malformed or out of range.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInactive: the host is switched off and refuses work.
	ErrInactive = errors.New("host is inactive")
	// ErrConflict: the request contradicts what is stored.
	ErrConflict = errors.New("conflict")
	// ErrBusy: a concurrency limit is reached; retry later.
	ErrBusy = errors.New("busy, retry later")
	// ErrTooLarge: the request body exceeds a size limit.
	ErrTooLarge = errors.New("too large")
	// ErrCorrupt: stored data failed its integrity check.
	ErrCorrupt = errors.New("stored data corrupt")
	// ErrUnavailable: a dependency of the request (a file, a daemon, enough
	// live hosts) cannot be reached.
	ErrUnavailable = errors.New("unavailable")
	// ErrStopped: the node's Run has returned.
	ErrStopped = errors.New("node stopped")
	// ErrBadSignature: the data is not what its sender signed (a signed
	// shard upload whose bytes do not match the signed digest). Nothing
	// was kept.
	ErrBadSignature = errors.New("data does not match its signature")
	// ErrForbidden: the caller is known but may not do this (another
	// node's shard).
	ErrForbidden = errors.New("forbidden")
)

// Invalidf returns an ErrInvalid with a message for the user.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// FromStorage maps the storage package's errors onto the engine's; other
// errors pass through unchanged.
func FromStorage(err error) error {
	for _, m := range []struct{ from, to error }{
		{storage.ErrInvalid, ErrInvalid},
		{storage.ErrHashMismatch, ErrInvalid},
		{storage.ErrNotFound, ErrNotFound},
		{storage.ErrConflict, ErrConflict},
		{storage.ErrTooLarge, ErrTooLarge},
		{storage.ErrCorrupt, ErrCorrupt},
		{storage.ErrDecrypt, ErrCorrupt},
		{storage.ErrParams, ErrInvalid},
		{storage.ErrInterrupted, ErrInvalid},
		{storage.ErrTooFewShards, ErrUnavailable},
		{storage.ErrQuorum, ErrUnavailable},
		{storage.ErrNoHosts, ErrUnavailable},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}
