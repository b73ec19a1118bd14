package ledger

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
)

const testOwner = identity.NodeID("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")

func TestStorageWindowUnits(t *testing.T) {
	hour := StorageWindow{Start: 3600, Seconds: 3600}
	tests := []struct {
		name  string
		w     StorageWindow
		bytes int64
		want  int64
		err   bool
	}{
		{"a gigabyte for an hour is one unit", hour, 1_000_000_000, 1_000_000, false},
		{"a megabyte for an hour", hour, 1_000_000, 1_000, false},
		{"rounds down", hour, 3_599, 3, false},
		{"nothing", hour, 0, 0, false},
		{"a mebibyte for two seconds", StorageWindow{Start: 2, Seconds: 2}, 1 << 20, 0, false},
		{"four mebibytes for two seconds", StorageWindow{Start: 2, Seconds: 2}, 4 << 20, 2, false},
		{"a petabyte for 31 days", StorageWindow{Start: 0, Seconds: 31 * 86400}, 1e15, 744e12, false},
		{"the most bytes for the longest window", StorageWindow{Start: 0, Seconds: 31 * 86400}, math.MaxInt64, 6_862_188_795_419_953_200, false},
		{"out of range (no valid window is this long)", StorageWindow{Start: 0, Seconds: 1 << 40}, math.MaxInt64, 0, true},
		{"negative", hour, -1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.w.Units(tt.bytes)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("Units(%d) = %d, %v; want %d, error %v", tt.bytes, got, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, ErrStorageWindow) {
				t.Errorf("error %v does not wrap ErrStorageWindow", err)
			}
		})
	}
}

func TestStorageWindowValidate(t *testing.T) {
	tests := []struct {
		name string
		w    StorageWindow
		ok   bool
	}{
		{"an hour", StorageWindow{Start: 7200, Seconds: 3600}, true},
		{"a second", StorageWindow{Start: 5, Seconds: 1}, true},
		{"31 days", StorageWindow{Start: 0, Seconds: 31 * 86400}, true},
		{"not aligned", StorageWindow{Start: 1800, Seconds: 3600}, false},
		{"zero length", StorageWindow{Start: 0, Seconds: 0}, false},
		{"negative length", StorageWindow{Start: 0, Seconds: -3600}, false},
		{"too long", StorageWindow{Start: 0, Seconds: 31*86400 + 1}, false},
		{"negative start", StorageWindow{Start: -3600, Seconds: 3600}, false},
		{"ends past the end of time", StorageWindow{Start: math.MaxInt64 - math.MaxInt64%60, Seconds: 60}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%+v) = %v, want ok %v", tt.w, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrStorageWindow) {
				t.Errorf("error %v does not wrap ErrStorageWindow", err)
			}
		})
	}
}

func TestLastWindow(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 17, 42, 5, time.UTC)
	for _, tt := range []struct {
		d    time.Duration
		want time.Time
	}{
		{time.Hour, time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)},
		{2 * time.Minute, time.Date(2026, 12, 6, 10, 14, 0, 0, time.UTC)},
		{time.Second, time.Date(2026, 12, 6, 10, 17, 41, 0, time.UTC)},
	} {
		w := LastWindow(now, tt.d)
		if !w.StartTime().Equal(tt.want) || w.End().After(now) || w.Validate() != nil {
			t.Errorf("LastWindow(%s, %s) = %s..%s (%v), want from %s, ended by now", now, tt.d, w.StartTime(), w.End(), w.Validate(), tt.want)
		}
	}
}

func TestStorageWindowOf(t *testing.T) {
	w := StorageWindow{Start: 1_796_000_400, Seconds: 3600}
	got, owner, ok := StorageWindowOf(w.JobID(testOwner))
	if !ok || got != w || owner != testOwner {
		t.Fatalf("StorageWindowOf(%q) = %+v, %q, %v", w.JobID(testOwner), got, owner, ok)
	}
	if len(w.JobID(testOwner)) > MaxIDLen {
		t.Errorf("job ID %q is longer than %d", w.JobID(testOwner), MaxIDLen)
	}
	for _, id := range []string{
		"",
		"storage:",
		"storage::3600:3600",
		"job-1",
		"compute:" + string(testOwner) + ":3600:3600",
		"storage:" + string(testOwner) + ":1800:3600",   // not aligned
		"storage:" + string(testOwner) + ":3600:0",      // no length
		"storage:" + string(testOwner) + ":+3600:3600",  // not canonical
		"storage:" + string(testOwner) + ":03600:3600",  // not canonical
		"storage:" + string(testOwner) + ":3600:3600:1", // trailing field
		"storage:did:key:z6Mk:3600:3600",                // not a node ID
		"storage:" + string(testOwner) + ":x:3600",
		"storage:" + string(testOwner) + ":3600",
	} {
		if w, owner, ok := StorageWindowOf(id); ok {
			t.Errorf("StorageWindowOf(%q) = %+v, %q, true; want false", id, w, owner)
		}
	}
}

// FuzzStorageWindowOf: job IDs come from receipts other nodes sign; any
// ID parses to a valid window that names it again, or not at all.
func FuzzStorageWindowOf(f *testing.F) {
	f.Add(StorageWindow{Start: 3600, Seconds: 3600}.JobID(testOwner))
	f.Add("storage:a:0:1")
	f.Add("storage:::")
	f.Add("job-1")
	f.Fuzz(func(t *testing.T, id string) {
		w, owner, ok := StorageWindowOf(id)
		if !ok {
			return
		}
		if err := w.Validate(); err != nil {
			t.Fatalf("%q parsed to an invalid window: %v", id, err)
		}
		if w.JobID(owner) != id {
			t.Fatalf("%q parsed to %+v of %q, which names %q", id, w, owner, w.JobID(owner))
		}
	})
}

func TestStorageWindowString(t *testing.T) {
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC).Unix()
	for _, tt := range []struct {
		w    StorageWindow
		want string
	}{
		{StorageWindow{Start: day + 10*3600, Seconds: 3600}, "Dec 6 10:00:00–11:00:00 UTC"},
		{StorageWindow{Start: day + 23*3600 + 58*60, Seconds: 120}, "Dec 6 23:58:00–00:00:00 UTC"},
		{StorageWindow{Start: day, Seconds: 2 * 86400}, "Dec 6 00:00–Dec 8 00:00 UTC"},
	} {
		if got := tt.w.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.w, got, tt.want)
		}
	}
}
