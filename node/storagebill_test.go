package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
)

// TestSignStorageReceipt: a host signs one receipt per owner and window,
// for at most the bytes it kept for that owner through the window, at its
// storage price, and refuses in words what it must not sign: no shards
// kept through the window, a window too short,
// misaligned, not over yet or long past, one that overlaps a window it
// billed, a caller that is not a node. Asking again, even at once from
// many goroutines, returns the same receipt.
func TestSignStorageReceipt(t *testing.T) {
	t.Parallel()
	// The host's window is the default hour. It stores shards at 10:30
	// and one more of the owner's at 11:30, and is asked at 12:00.
	var mu sync.Mutex
	now := testClock.Add(-90 * time.Minute)
	cfg := testConfig(t.TempDir())
	cfg.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	setClock := func(to time.Time) {
		mu.Lock()
		defer mu.Unlock()
		now = to
	}
	n, _ := openNodeWith(t, cfg.DataDir, testKeys(t), cfg)
	ctx := t.Context()
	owner, other, tiny, stranger := testKeys(t).ID(), testKeys(t).ID(), testKeys(t).ID(), testKeys(t).ID()
	store := func(i int, by identity.NodeID, size int) {
		t.Helper()
		if _, err := n.StoreShard(ctx, "a.0", i, bytes.NewReader(bytes.Repeat([]byte{byte(i)}, size)), "", string(by)); err != nil {
			t.Fatal(err)
		}
	}
	store(0, owner, 1<<20)
	store(1, owner, 2<<20)
	store(2, other, 1<<20)
	store(3, tiny, 100)
	setClock(testClock.Add(-30 * time.Minute))
	store(4, owner, 4<<20) // mid-window: not kept through it
	store(5, stranger, 1<<20)
	setClock(testClock)
	const held = 3 << 20
	last := ledger.LastWindow(testClock, time.Hour) // 11:00 to 12:00
	hour := last.Seconds
	price := micro(t, "0.1")

	first, err := n.SignStorageReceipt(ctx, owner, node.StorageBill{Window: last, Bytes: 10 << 30})
	if err != nil {
		t.Fatal(err)
	}
	wantUnits, _ := last.Units(held)
	switch {
	case first.Verify() != nil:
		t.Fatalf("receipt does not verify: %v", first.Verify())
	case first.ConsumerID != owner || first.ResourceType != ledger.ResourceStorage || first.JobID != last.JobID(owner):
		t.Fatalf("receipt for %s %s %q, want owner's storage for %q", first.ConsumerID, first.ResourceType, first.JobID, last.JobID(owner))
	case first.Units != wantUnits || first.Metrics[ledger.MetricBytes] != held:
		t.Fatalf("receipt for %d units of %v bytes, want %d units of the %d bytes held (capped)", first.Units, first.Metrics[ledger.MetricBytes], wantUnits, held)
	case first.UnitPrice != price || first.Version != ledger.ReceiptVersion2:
		t.Fatalf("receipt version %s at %d, want 0.2 at the storage price %d", first.Version, first.UnitPrice, price)
	}

	// Asked again, at once and with other bytes: the same receipt.
	var wg sync.WaitGroup
	seqs := make([]uint64, 8)
	for i := range seqs {
		wg.Go(func() {
			r, err := n.SignStorageReceipt(ctx, owner, node.StorageBill{Window: last, Bytes: int64(i + 1)})
			if err != nil {
				t.Error(err)
			}
			seqs[i] = r.Seq
		})
	}
	wg.Wait()
	for _, s := range seqs {
		if s != first.Seq {
			t.Fatalf("asked again: receipts %v, want all #%d", seqs, first.Seq)
		}
	}

	at := func(start time.Time, d time.Duration) ledger.StorageWindow {
		return ledger.StorageWindow{Start: start.Unix(), Seconds: int64(d / time.Second)}
	}
	for _, tt := range []struct {
		name   string
		caller identity.NodeID
		bill   node.StorageBill
		want   error
	}{
		{"the admin", "", node.StorageBill{Window: last, Bytes: 1}, node.ErrForbidden},
		{"a node whose shards came mid-window", stranger, node.StorageBill{Window: last, Bytes: 1 << 20}, node.ErrConflict},
		{"too little to round to a unit", tiny, node.StorageBill{Window: last, Bytes: 100}, node.ErrConflict},
		{"no bytes", other, node.StorageBill{Window: last, Bytes: 0}, node.ErrInvalid},
		{"shorter than the host's window", other, node.StorageBill{Window: at(testClock.Add(-time.Minute), time.Minute), Bytes: 1}, node.ErrInvalid},
		{"not aligned", other, node.StorageBill{Window: ledger.StorageWindow{Start: last.Start + 60, Seconds: hour}, Bytes: 1}, node.ErrInvalid},
		{"not over yet", other, node.StorageBill{Window: at(testClock, time.Hour), Bytes: 1}, node.ErrConflict},
		{"long past", other, node.StorageBill{Window: at(testClock.Add(-40*24*time.Hour), time.Hour), Bytes: 1}, node.ErrConflict},
		{"before the window billed", owner, node.StorageBill{Window: at(testClock.Add(-2*time.Hour), time.Hour), Bytes: 1}, node.ErrConflict},
		{"overlapping the window billed", owner, node.StorageBill{Window: at(testClock.Add(-2*time.Hour), 2*time.Hour), Bytes: 1}, node.ErrConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r, err := n.SignStorageReceipt(ctx, tt.caller, tt.bill); !errors.Is(err, tt.want) {
				t.Fatalf("SignStorageReceipt = #%d, %v; want %v", r.Seq, err, tt.want)
			}
		})
	}

	// Another owner's window is its own; the owner's next window is new.
	r, err := n.SignStorageReceipt(ctx, other, node.StorageBill{Window: last, Bytes: 1 << 20})
	if err != nil || r.ConsumerID != other || r.Seq == first.Seq {
		t.Fatalf("other owner's window: #%d for %s, %v", r.Seq, r.ConsumerID, err)
	}
	rs, err := n.RecentReceipts(ctx, 100)
	if err != nil || len(rs) != 2 {
		t.Fatalf("the host signed %d receipts (%v), want 2", len(rs), err)
	}
}

// TestStorageWindowsNeverOverlap drives a host's side of storage billing
// with seeded random schedules: owners asking for windows of random
// lengths and starts, repeats, a clock that moves, and restarts of the
// host on its database. Whatever the order, the host never signs two
// receipts for one owner whose windows overlap, signs each window once
// (asked again, the same receipt), and never for more than the owner's
// bytes it keeps. A failing seed is in the subtest's name.
func TestStorageWindowsNeverOverlap(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 7))
			var mu sync.Mutex
			now := testClock.Add(-20 * 24 * time.Hour)
			cfg := testConfig(t.TempDir())
			cfg.StorageBillWindow = time.Minute
			cfg.Now = func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				return now
			}
			keys := testKeys(t)
			n, closeDB := openNodeWith(t, cfg.DataDir, keys, cfg)
			owners := []identity.NodeID{testKeys(t).ID(), testKeys(t).ID(), testKeys(t).ID()}
			held := map[identity.NodeID]int64{}
			for i, o := range owners {
				size := 1<<20 + rng.IntN(3<<20)
				if _, err := n.StoreShard(t.Context(), "s.0", i, bytes.NewReader(make([]byte, size)), "", string(o)); err != nil {
					t.Fatal(err)
				}
				held[o] = int64(size)
			}
			signed := map[string]ledger.Receipt{}
			lengths := []int64{60, 120, 300, 3600}
			for step := range 300 {
				switch rng.IntN(12) {
				case 0:
					closeDB()
					n, closeDB = openNodeWith(t, cfg.DataDir, keys, cfg)
				case 1, 2:
					mu.Lock()
					now = now.Add(time.Duration(rng.Int64N(int64(2 * time.Hour))))
					mu.Unlock()
				default:
					o := owners[rng.IntN(len(owners))]
					secs := lengths[rng.IntN(len(lengths))]
					start := cfg.Now().Unix() - 3*3600 + rng.Int64N(4*3600)
					w := ledger.StorageWindow{Start: start - start%secs, Seconds: secs}
					bill := node.StorageBill{Window: w, Bytes: 1 + rng.Int64N(8<<20)}
					r, err := n.SignStorageReceipt(t.Context(), o, bill)
					if err != nil {
						if !errors.Is(err, node.ErrConflict) && !errors.Is(err, node.ErrInvalid) {
							t.Fatalf("step %d: %v", step, err)
						}
						continue
					}
					if r.JobID != w.JobID(o) || r.ConsumerID != o {
						t.Fatalf("step %d: asked %q of %s, signed %q of %s", step, w.JobID(o), o, r.JobID, r.ConsumerID)
					}
					if before, ok := signed[r.JobID]; ok {
						if before.Seq != r.Seq || before.Units != r.Units {
							t.Fatalf("step %d: window %s signed again: #%d then #%d", step, w, before.Seq, r.Seq)
						}
						continue
					}
					if most, _ := w.Units(min(bill.Bytes, held[o])); r.Units > most {
						t.Fatalf("step %d: %d units for %d bytes asked, %d kept; at most %d", step, r.Units, bill.Bytes, held[o], most)
					}
					signed[r.JobID] = r
				}
			}
			// Every receipt the host holds, per owner: disjoint windows.
			all, err := n.RecentReceipts(t.Context(), 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(signed) || len(all) < 10 {
				t.Fatalf("the host holds %d receipts, %d signed (want at least 10 to mean something)", len(all), len(signed))
			}
			for i, a := range all {
				wa, oa, _ := ledger.StorageWindowOf(a.JobID)
				for _, b := range all[i+1:] {
					wb, ob, _ := ledger.StorageWindowOf(b.JobID)
					if oa == ob && wa.StartTime().Before(wb.End()) && wb.StartTime().Before(wa.End()) {
						t.Fatalf("overlapping windows for %s: %s (#%d) and %s (#%d)", oa, wa, a.Seq, wb, b.Seq)
					}
				}
			}
			t.Logf("%d receipts signed in 300 steps", len(all))
		})
	}
}
