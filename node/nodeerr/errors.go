package nodeerr

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
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
	// ErrNoSpace: the node's disk is full (ENOSPC from the shard store,
	// SQLITE_FULL from the database). What the request wrote was removed
	// or rolled back.
	ErrNoSpace = errors.New("no space left on the node's disk")
	// ErrNotMember: the request is signed by a node that is not a member
	// of this node's cluster (or this node runs alone).
	ErrNotMember = errors.New("not a member of this cluster")
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
	return FromResource(err)
}

// FromResource maps the errors of an exhausted resource, from any layer,
// onto the engine's: a full disk (ENOSPC, SQLITE_FULL) onto ErrNoSpace and
// a database lock that outlasted the busy timeout onto ErrBusy. Other
// errors pass through unchanged.
func FromResource(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrNoSpace), errors.Is(err, ErrBusy):
		return err
	case errors.Is(err, syscall.ENOSPC), sqlitedb.IsFull(err):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	case sqlitedb.IsBusy(err):
		return fmt.Errorf("%w: the database is locked: %w", ErrBusy, err)
	}
	return err
}
