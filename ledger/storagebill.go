package ledger

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/offgrid-net/offgrid/identity"
)

// Bounds of a storage billing window.
const (
	// MinStorageWindow is the shortest window a storage receipt covers.
	// Hosts refuse windows shorter than their own configured window.
	MinStorageWindow = time.Second
	// MaxStorageWindow is the longest.
	MaxStorageWindow = 31 * 24 * time.Hour
)

// storageJobPrefix starts the job ID of every storage receipt.
const storageJobPrefix = "storage:"

// Metric names a storage receipt carries, so that anyone reading it sees
// what its units were computed from.
const (
	MetricBytes         = "bytes"
	MetricWindowStart   = "window_start"
	MetricWindowSeconds = "window_seconds"
)

// bytesSecondsPerUnit is how many byte-seconds make one micro-unit of
// storage. A unit of storage is a gigabyte (10^9 bytes) kept for an hour,
// the unit a host's storage price is quoted in: 10^9 × 3600 byte-seconds
// per unit, 10^6 micro-units per unit.
const bytesSecondsPerUnit = 1_000_000_000 * 3600 / 1_000_000

// ErrStorageWindow reports a storage billing window that is malformed.
var ErrStorageWindow = errors.New("invalid storage window")

// StorageWindow is a span of time a host kept an owner's shards for: one
// storage receipt covers one owner, one host and one window. Windows start
// at a multiple of their length (unix time), so an owner and its hosts
// name the same windows.
type StorageWindow struct {
	// Start is the window's start, in unix seconds.
	Start int64
	// Seconds is the window's length.
	Seconds int64
}

// LastWindow returns the newest window of length d that ended at or before
// now.
func LastWindow(now time.Time, d time.Duration) StorageWindow {
	secs := int64(d / time.Second)
	end := now.Unix() - now.Unix()%secs
	return StorageWindow{Start: end - secs, Seconds: secs}
}

// Validate checks the window's length and alignment.
func (w StorageWindow) Validate() error {
	switch {
	case w.Seconds < int64(MinStorageWindow/time.Second) || w.Seconds > int64(MaxStorageWindow/time.Second):
		return fmt.Errorf("%w: %d s long, want %s to %s", ErrStorageWindow, w.Seconds, MinStorageWindow, MaxStorageWindow)
	case w.Start < 0 || w.Start > math.MaxInt64-w.Seconds:
		return fmt.Errorf("%w: starts at %d", ErrStorageWindow, w.Start)
	case w.Start%w.Seconds != 0:
		return fmt.Errorf("%w: starts at %d, not a multiple of its length %d s", ErrStorageWindow, w.Start, w.Seconds)
	}
	return nil
}

// StartTime is the window's first instant.
func (w StorageWindow) StartTime() time.Time { return time.Unix(w.Start, 0) }

// End is the first instant after the window.
func (w StorageWindow) End() time.Time { return time.Unix(w.Start+w.Seconds, 0) }

// String shows the window in UTC: its day and times of day, and both
// days when it is a day or longer.
func (w StorageWindow) String() string {
	start, end := w.StartTime().UTC(), w.End().UTC()
	if w.Seconds >= 24*3600 {
		return start.Format("Jan 2 15:04") + "–" + end.Format("Jan 2 15:04") + " UTC"
	}
	return start.Format("Jan 2 15:04:05") + "–" + end.Format("15:04:05") + " UTC"
}

// JobID is the job ID of the storage receipt of owner for this window: one
// per owner and window at each host, which the host's store keeps unique.
func (w StorageWindow) JobID(owner identity.NodeID) string {
	return fmt.Sprintf("%s%s:%d:%d", storageJobPrefix, owner, w.Start, w.Seconds)
}

// Units is what keeping bytes for the window is worth, in micro-units
// (gigabyte-hours), rounded down.
func (w StorageWindow) Units(bytes int64) (int64, error) {
	if bytes < 0 {
		return 0, fmt.Errorf("%w: %d bytes", ErrStorageWindow, bytes)
	}
	hi, lo := bits.Mul64(uint64(bytes), uint64(w.Seconds))
	if hi >= bytesSecondsPerUnit {
		return 0, fmt.Errorf("%w: %d bytes for %d s is out of range", ErrStorageWindow, bytes, w.Seconds)
	}
	q, _ := bits.Div64(hi, lo, bytesSecondsPerUnit)
	if q > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %d bytes for %d s is out of range", ErrStorageWindow, bytes, w.Seconds)
	}
	return int64(q), nil
}

// StorageWindowOf returns the window and owner (a valid node ID) a storage
// receipt's job ID names, and false for any other job ID.
func StorageWindowOf(jobID string) (StorageWindow, identity.NodeID, bool) {
	rest, ok := strings.CutPrefix(jobID, storageJobPrefix)
	if !ok {
		return StorageWindow{}, "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return StorageWindow{}, "", false
	}
	j := strings.LastIndexByte(rest[:i], ':')
	if j < 1 {
		return StorageWindow{}, "", false
	}
	start, err1 := strconv.ParseInt(rest[j+1:i], 10, 64)
	secs, err2 := strconv.ParseInt(rest[i+1:], 10, 64)
	w := StorageWindow{Start: start, Seconds: secs}
	owner := identity.NodeID(rest[:j])
	if _, err := owner.PublicKey(); err != nil || err1 != nil || err2 != nil || w.Validate() != nil || w.JobID(owner) != jobID {
		return StorageWindow{}, "", false
	}
	return w, owner, true
}
