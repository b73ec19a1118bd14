package history

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// TestRecordStoresIntervalsAndTrims records samples from a sampler whose
// traffic counters grow since start: each stored sample holds only the
// bytes of its own interval, samples older than Keep go, and a failed
// sample stores nothing and leaves the next interval whole.
func TestRecordStoresIntervalsAndTrims(t *testing.T) {
	ctx := t.Context()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var in, out int64
	var fail error
	r, err := New(ctx, Config{Interval: -1, Keep: time.Hour}, Deps{DB: db, Sample: func(context.Context) (Usage, error) {
		return Usage{At: now, BytesIn: in, BytesOut: out, PeersUp: 2, PeersTotal: 3}, fail
	}})
	if err != nil {
		t.Fatal(err)
	}
	step := func(dIn, dOut int64) {
		t.Helper()
		in, out = in+dIn, out+dOut
		if err := r.Record(ctx); err != nil {
			t.Fatal(err)
		}
		now = now.Add(25 * time.Minute)
	}
	step(100, 10)
	step(50, 0)
	fail = context.DeadlineExceeded
	in += 7
	if err := r.Record(ctx); err == nil {
		t.Fatal("a failed sample was recorded")
	}
	fail = nil
	step(1, 1)
	step(0, 0) // at 13:15: the 12:00 sample is over an hour old now
	got, err := r.Since(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ in, out int64 }
	want := []row{{50, 0}, {8, 1}, {0, 0}}
	if len(got) != len(want) {
		t.Fatalf("samples = %+v, want %d", got, len(want))
	}
	for i, u := range got {
		if (row{u.BytesIn, u.BytesOut}) != want[i] || u.PeersUp != 2 {
			t.Errorf("sample %d = in %d, out %d, peers up %d; want %+v and 2", i, u.BytesIn, u.BytesOut, u.PeersUp, want[i])
		}
	}
	if recent, _ := r.Since(ctx, now.Add(-30*time.Minute)); len(recent) != 1 {
		t.Errorf("samples in the last 30 minutes = %d, want 1", len(recent))
	}
}
