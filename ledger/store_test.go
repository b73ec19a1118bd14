package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

func openTestDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), openTestDB(t))
	if err != nil {
		t.Fatalf("OpenStore() = %v", err)
	}
	return s
}

func seqs(rs []Receipt) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func TestStoreAppendAndRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTestDB(t)
	s, err := OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t, 1)
	var appended []Receipt
	for i := range 5 {
		r := sampleReceipt()
		r.Seq = 999 // ignored: the store assigns seqs
		r.JobID = fmt.Sprintf("job-%d", i)
		r.Units = int64(i) * 250_000
		got, err := s.SignAndAppend(ctx, k, r)
		if err != nil {
			t.Fatalf("SignAndAppend(%d) = %v", i, err)
		}
		if got.Seq != uint64(i+1) {
			t.Errorf("SignAndAppend(%d).Seq = %d, want %d", i, got.Seq, i+1)
		}
		if err := got.Verify(); err != nil {
			t.Errorf("SignAndAppend(%d).Verify() = %v, want nil", i, err)
		}
		appended = append(appended, got)
	}
	if n, err := s.Count(ctx); err != nil || n != 5 {
		t.Errorf("Count() = %d, %v, want 5", n, err)
	}

	// Reopening migrates nothing and sees the same rows.
	s, err = OpenStore(ctx, db)
	if err != nil {
		t.Fatalf("OpenStore() again = %v", err)
	}
	recent, err := s.Recent(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(appended)
	slices.Reverse(want)
	if diff := cmp.Diff(want[:3], recent); diff != "" {
		t.Errorf("Recent(3) mismatch (-want +got):\n%s", diff)
	}
	since, err := s.Since(ctx, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(appended[2:], since); diff != "" {
		t.Errorf("Since(2, 10) mismatch (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 2, []uint64{1, 2}},
		{4, 10, []uint64{5}},
		{5, 10, []uint64{}},
		{1 << 63, 10, []uint64{}},
	} {
		got, err := s.Since(ctx, tt.after, tt.limit)
		if err != nil {
			t.Fatalf("Since(%d, %d) = %v", tt.after, tt.limit, err)
		}
		if diff := cmp.Diff(tt.want, seqs(got)); diff != "" {
			t.Errorf("Since(%d, %d) seqs mismatch (-want +got):\n%s", tt.after, tt.limit, diff)
		}
	}
	if _, err := s.Recent(ctx, 0); err == nil {
		t.Errorf("Recent(0) = nil error, want error")
	}
	if _, err := s.Since(ctx, 0, -1); err == nil {
		t.Errorf("Since(0, -1) = nil error, want error")
	}
	b, err := NewBatch(k.ID(), since)
	if err != nil {
		t.Fatalf("NewBatch(Since(2, 10)) = %v", err)
	}
	if err := VerifyBatch(b); err != nil {
		t.Errorf("VerifyBatch(batch of stored receipts) = %v, want nil", err)
	}
}

func TestStoreNothingHalfWritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestStore(t)
	k := testKeys(t, 1)
	bad := sampleReceipt()
	bad.ResourceType = "bandwidth"
	if _, err := s.SignAndAppend(ctx, k, bad); !errors.Is(err, ErrInvalidReceipt) {
		t.Errorf("SignAndAppend(bad resource) = %v, want ErrInvalidReceipt", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.SignAndAppend(cancelled, k, sampleReceipt()); err == nil {
		t.Errorf("SignAndAppend(cancelled ctx) = nil error, want error")
	}
	if n, err := s.Count(ctx); err != nil || n != 0 {
		t.Errorf("Count() after failed appends = %d, %v, want 0", n, err)
	}
	got, err := s.SignAndAppend(ctx, k, sampleReceipt()) // the failed appends left no job behind
	if err != nil || got.Seq != 1 {
		t.Errorf("SignAndAppend() after failures = seq %d, %v, want seq 1", got.Seq, err)
	}
}

func TestStoreConcurrentAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestStore(t)
	k := testKeys(t, 1)
	const workers, each = 8, 15
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		// got and errs are guarded by mu.
		got  []uint64
		errs []error
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := sampleReceipt()
				r.JobID = "job-" + string(rune('a'+w)) + string(rune('a'+i))
				out, err := s.SignAndAppend(ctx, k, r)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					got = append(got, out.Seq)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("SignAndAppend() from a goroutine = %v", err)
	}
	slices.Sort(got)
	want := make([]uint64, workers*each)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seqs from concurrent SignAndAppend mismatch (-want +got):\n%s", diff)
	}
	stored, err := s.Since(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, seqs(stored)); diff != "" {
		t.Errorf("stored seqs mismatch (-want +got):\n%s", diff)
	}
	for _, r := range stored {
		if err := r.Verify(); err != nil {
			t.Errorf("stored receipt %d: Verify() = %v", r.Seq, err)
		}
	}
	if _, err := NewBatch(k.ID(), stored); err != nil {
		t.Errorf("NewBatch(all stored) = %v", err)
	}
}

func TestSignAndAppendRefusesDuplicateJob(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	k := testKeys(t, 1)
	r := Receipt{Version: ReceiptVersion, ClusterID: "c", ResourceType: ResourceCompute, JobID: "job-1", Units: 1}
	if _, err := s.SignAndAppend(ctx, k, r); err != nil {
		t.Fatalf("first SignAndAppend = %v", err)
	}
	if _, err := s.SignAndAppend(ctx, k, r); !errors.Is(err, ErrDuplicateJob) {
		t.Errorf("second SignAndAppend(same job) = %v, want ErrDuplicateJob", err)
	}
	r.ResourceType = ResourceStorage
	if _, err := s.SignAndAppend(ctx, k, r); err != nil {
		t.Errorf("SignAndAppend(same job, other resource) = %v, want nil", err)
	}
	if n, _ := s.Count(ctx); n != 2 {
		t.Errorf("Count() = %d, want 2", n)
	}
}
