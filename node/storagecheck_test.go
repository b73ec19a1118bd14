package node

import (
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
)

// TestCheckStorageReceipt: the owner accepts a host's storage receipt only
// if it is that host's, for this owner and the window asked, for some but
// no more units than the bytes asked are worth, at no more than the
// owner's highest price. Each way a host could lie is refused.
func TestCheckStorageReceipt(t *testing.T) {
	const host, other, owner = identity.NodeID("did:key:host"), identity.NodeID("did:key:other"), identity.NodeID("did:key:owner")
	want := StorageBill{Window: ledger.StorageWindow{Start: 7200, Seconds: 3600}, Bytes: 1_000_000_000} // one unit
	honest := ledger.Receipt{NodeID: host, ConsumerID: owner, ResourceType: ledger.ResourceStorage,
		JobID: want.Window.JobID(owner), Units: 1_000_000, UnitPrice: 100_000}
	// A receipt the host signed and the owner refuses is ErrConflict (the
	// billing round takes it as the host's last word on the window); one
	// another node signed is ErrUnavailable (the host is asked again).
	tests := []struct {
		name string
		edit func(*ledger.Receipt)
		want error
	}{
		{"honest", func(*ledger.Receipt) {}, nil},
		{"fewer units than asked (the host kept less)", func(r *ledger.Receipt) { r.Units = 1 }, nil},
		{"at the highest price", func(r *ledger.Receipt) { r.UnitPrice = 1_000_000 }, nil},
		{"more units than asked", func(r *ledger.Receipt) { r.Units = 1_000_001 }, ErrConflict},
		{"no units", func(r *ledger.Receipt) { r.Units = 0 }, ErrConflict},
		{"above the highest price", func(r *ledger.Receipt) { r.UnitPrice = 1_000_001 }, ErrConflict},
		{"another node's receipt", func(r *ledger.Receipt) { r.NodeID = other }, ErrUnavailable},
		{"for another consumer", func(r *ledger.Receipt) { r.ConsumerID = other }, ErrConflict},
		{"for another window", func(r *ledger.Receipt) {
			r.JobID = ledger.StorageWindow{Start: 3600, Seconds: 3600}.JobID(owner)
		}, ErrConflict},
		{"for another owner's window", func(r *ledger.Receipt) { r.JobID = want.Window.JobID(other) }, ErrConflict},
		{"a compute receipt", func(r *ledger.Receipt) { r.ResourceType = ledger.ResourceCompute }, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := honest
			tt.edit(&r)
			err := checkStorageReceipt(r, host, owner, want, 1_000_000)
			if (err == nil) != (tt.want == nil) || !errors.Is(err, tt.want) {
				t.Fatalf("checkStorageReceipt = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestStorageRound: a billing round looks back storageLookback windows
// from the last that ended, never before 1970 nor before the oldest window
// a host still signs, and asks each host, oldest first, for the windows
// after its last bill in which it held enough to be worth a unit.
func TestStorageRound(t *testing.T) {
	hour := time.Hour
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	rounds := []struct {
		name    string
		now     time.Time
		d       time.Duration
		first   string
		windows int
	}{
		{"a week of hours", at("2026-12-07T12:00:30Z"), hour, "2026-11-30T12:00:00Z", storageLookback},
		{"on a window's end", at("2026-12-07T12:00:00Z"), hour, "2026-11-30T12:00:00Z", storageLookback},
		{"six-hour windows: back to the oldest a host signs", at("2026-12-07T12:00:00Z"), 6 * hour, "2026-11-05T12:00:00Z", 128},
		{"31-day windows: the last, while a host signs it", at("2026-12-15T00:00:00Z"), 31 * 24 * hour, "2026-11-13T00:00:00Z", 1},
		{"31-day windows: the last began too long ago", at("2026-12-07T12:00:00Z"), 31 * 24 * hour, "", 0},
		{"a clock just after 1970", at("1970-01-01T02:30:00Z"), hour, "1970-01-01T00:00:00Z", 2},
		{"a clock in 1970's first window", at("1970-01-01T00:30:00Z"), hour, "", 0},
	}
	for _, tt := range rounds {
		t.Run(tt.name, func(t *testing.T) {
			r := storageRound(tt.now, tt.d)
			if r.windows != tt.windows || (tt.first != "" && !r.first.StartTime().Equal(at(tt.first))) {
				t.Fatalf("storageRound = %d windows from %s, want %d from %s", r.windows, r.first, tt.windows, tt.first)
			}
			if r.windows == 0 {
				return
			}
			last := r.first.Start + int64(r.windows-1)*r.first.Seconds
			if want := ledger.LastWindow(tt.now, tt.d); last != want.Start || r.first.Seconds != want.Seconds {
				t.Fatalf("the round's last window starts at %d, want %+v", last, want)
			}
			if r.first.StartTime().Before(tt.now.Add(-maxStorageBillAge)) {
				t.Fatalf("the round starts at %s, before the oldest window a host signs", r.first)
			}
		})
	}

	// Four hour-long windows, 08:00 to 12:00. A gigabyte for an hour is
	// one unit; a host holding less than a millionth of that is not asked.
	r := storageRound(at("2026-12-07T12:00:00Z"), hour)
	r.windows, r.first.Start = 4, at("2026-12-07T08:00:00Z").Unix()
	held := []map[string]int64{
		{"a": 1e9},
		{"a": 1e9, "b": 1e9},
		{"a": 2e9, "b": 1e9, "tiny": 100},
		{"a": 2e9, "b": 1e9, "tiny": 100},
	}
	window := func(i int) ledger.StorageWindow {
		return ledger.StorageWindow{Start: r.first.Start + int64(i)*3600, Seconds: 3600}
	}
	bills := []struct {
		name  string
		host  string
		until int64
		want  []StorageBill
	}{
		{"never billed: every window it held something in", "a", 0, []StorageBill{
			{window(0), 1e9}, {window(1), 1e9}, {window(2), 2e9}, {window(3), 2e9}}},
		{"billed until 10:00", "a", window(1).End().Unix(), []StorageBill{{window(2), 2e9}, {window(3), 2e9}}},
		{"billed until mid-window (another length before)", "a", window(1).End().Unix() - 1, []StorageBill{{window(2), 2e9}, {window(3), 2e9}}},
		{"billed to the last", "a", window(3).End().Unix(), nil},
		{"placed at 09:00", "b", 0, []StorageBill{{window(1), 1e9}, {window(2), 1e9}, {window(3), 1e9}}},
		{"too little to bill", "tiny", 0, nil},
		{"holds nothing", "c", 0, nil},
	}
	for _, tt := range bills {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.bills(tt.host, tt.until, held); !slices.Equal(got, tt.want) {
				t.Fatalf("bills(%s, %d) = %+v, want %+v", tt.host, tt.until, got, tt.want)
			}
		})
	}
}

// TestStorageBillsKept: where each host's bills end is kept in the
// database, never moves back, and is forgotten when it ends before the
// round's first window or after now (a clock that ran ahead).
func TestStorageBillsKept(t *testing.T) {
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlitedb.Migrate(t.Context(), db, "node", migrations); err != nil {
		t.Fatal(err)
	}
	n := &Node{db: db}
	hour := func(h int64) ledger.StorageWindow { return ledger.StorageWindow{Start: h * 3600, Seconds: 3600} }
	mark := func(host identity.NodeID, w ledger.StorageWindow) {
		t.Helper()
		if err := n.markStorageBilled(t.Context(), host, w); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want map[identity.NodeID]int64) {
		t.Helper()
		got, err := n.storageBills(t.Context())
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("storageBills = %v, %v; want %v", got, err, want)
		}
	}
	mark("a", hour(10))
	mark("a", hour(9)) // an older window does not move it back
	mark("b", hour(3))
	mark("ahead", hour(100))
	check(map[identity.NodeID]int64{"a": 11 * 3600, "b": 4 * 3600, "ahead": 101 * 3600})
	if err := n.forgetStorageBills(t.Context(), 5*3600, 12*3600); err != nil {
		t.Fatal(err)
	}
	check(map[identity.NodeID]int64{"a": 11 * 3600})
}
