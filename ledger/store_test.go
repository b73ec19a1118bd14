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
	"time"

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

// holdWriteLock takes SQLite's write lock on db from its own transaction, so
// that an append's transaction waits at BEGIN until release is called.
func holdWriteLock(t *testing.T, db *sql.DB) (release func()) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE (sqlitedb.Open)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback() }) }
	t.Cleanup(release)
	return release
}

// waitFor polls cond (under s.mu) until it holds.
func waitFor(t *testing.T, s *Store, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// committing reports whether some batch holds the commit turn.
func committing(s *Store) bool {
	if s.commitMu.TryLock() {
		s.commitMu.Unlock()
		return false
	}
	return true
}

// TestSignAndAppendAnswersOnlyOnceCommitted: a caller whose context ends is
// told its receipt was not stored only when that is true. With the write
// lock held elsewhere, three appends wait at the three stages of the
// pipeline: the first in its transaction, the second signed and waiting
// for its turn to commit, the third queued. Ending the third's context
// withdraws it; ending the first's or the second's changes nothing: they
// are stored and returned.
func TestSignAndAppendAnswersOnlyOnceCommitted(t *testing.T) {
	t.Parallel()
	const (
		inTransaction = iota
		signed
		queued
	)
	tests := []struct {
		name     string
		cancel   int
		wantSeqs [3]uint64 // 0: not stored
	}{
		{"in transaction", inTransaction, [3]uint64{1, 2, 3}},
		{"signed, waiting to commit", signed, [3]uint64{1, 2, 3}},
		{"queued", queued, [3]uint64{1, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openTestDB(t)
			s, err := OpenStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			k := testKeys(t, 1)
			release := holdWriteLock(t, db)

			type result struct {
				r   Receipt
				err error
			}
			var cancels [3]context.CancelFunc
			var results [3]chan result
			start := func(i int) {
				c, cancel := context.WithCancel(ctx)
				t.Cleanup(cancel)
				cancels[i], results[i] = cancel, make(chan result, 1)
				go func() {
					r := sampleReceipt()
					r.JobID = fmt.Sprintf("job-%d", i)
					out, err := s.SignAndAppend(c, k, r)
					results[i] <- result{out, err}
				}()
			}
			start(inTransaction)
			waitFor(t, s, "the first batch waits for the write lock", func() bool { return len(s.queue) == 0 && !s.leading && committing(s) })
			start(signed)
			waitFor(t, s, "the second batch is signed and waits to commit", func() bool { return len(s.queue) == 0 && s.leading })
			start(queued)
			waitFor(t, s, "the third append is queued", func() bool { return len(s.queue) == 1 })

			cancels[tt.cancel]()
			if tt.cancel == queued {
				if got := <-results[queued]; !errors.Is(got.err, context.Canceled) {
					t.Errorf("SignAndAppend(cancelled while queued) = %v, want context.Canceled", got.err)
				}
			}
			release()
			for i, want := range tt.wantSeqs {
				if want == 0 {
					continue
				}
				if got := <-results[i]; got.err != nil || got.r.Seq != want || got.r.JobID != fmt.Sprintf("job-%d", i) {
					t.Errorf("SignAndAppend(job-%d) = seq %d job %q, %v; want seq %d, nil", i, got.r.Seq, got.r.JobID, got.err, want)
				}
			}
			stored, err := s.Since(ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			var want []uint64
			for _, seq := range tt.wantSeqs {
				if seq != 0 {
					want = append(want, seq)
				}
			}
			if diff := cmp.Diff(want, seqs(stored)); diff != "" {
				t.Errorf("stored seqs mismatch (-want +got):\n%s", diff)
			}
			if tt.cancel == queued {
				// The withdrawn job left nothing behind: it is appended next in seq.
				r := sampleReceipt()
				r.JobID = "job-2"
				if got, err := s.SignAndAppend(ctx, k, r); err != nil || got.Seq != 3 {
					t.Errorf("SignAndAppend(withdrawn job again) = seq %d, %v; want seq 3, nil", got.Seq, err)
				}
			}
		})
	}
}

// TestGroupCommitMixedBatch queues many appends behind a held write lock so
// that they share batches, some of them for the same job (in one batch, or
// stored by an earlier one): each job is
// stored once, the others get ErrDuplicateJob, and the stored seqs are
// contiguous and signed.
func TestGroupCommitMixedBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTestDB(t)
	s, err := OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t, 1)
	pre := sampleReceipt()
	pre.JobID = "job-0" // already stored: every later append of it is a duplicate
	if _, err := s.SignAndAppend(ctx, k, pre); err != nil {
		t.Fatal(err)
	}
	release := holdWriteLock(t, db)

	const callers, jobs = 300, 100 // more than maxAppendBatch, so two batches at least
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			r := sampleReceipt()
			r.JobID = fmt.Sprintf("job-%d", i%jobs)
			_, errs[i] = s.SignAndAppend(ctx, k, r)
		})
	}
	waitFor(t, s, "every append is queued or in a batch", func() bool { return len(s.pending) == callers })
	release()
	wg.Wait()

	stored := map[string]int{}
	for i, err := range errs {
		switch {
		case err == nil:
			stored[fmt.Sprintf("job-%d", i%jobs)]++
		case !errors.Is(err, ErrDuplicateJob):
			t.Errorf("SignAndAppend(caller %d) = %v, want nil or ErrDuplicateJob", i, err)
		}
	}
	for j := 1; j < jobs; j++ {
		if n := stored[fmt.Sprintf("job-%d", j)]; n != 1 {
			t.Errorf("job-%d stored by %d callers, want 1", j, n)
		}
	}
	if n := stored["job-0"]; n != 0 {
		t.Errorf("job-0 (stored before) stored again by %d callers", n)
	}
	all, err := s.Since(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint64, jobs)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if diff := cmp.Diff(want, seqs(all)); diff != "" {
		t.Errorf("stored seqs mismatch (-want +got):\n%s", diff)
	}
	if _, err := NewBatch(k.ID(), all); err != nil {
		t.Errorf("NewBatch(all stored) = %v", err)
	}
}

// TestStoresShareTable: two Stores over one database each expect the table
// to end where their own last append left it; every append after the
// other's finds it does not, and numbers and signs again: seqs stay
// contiguous and every signature verifies.
func TestStoresShareTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTestDB(t)
	k := testKeys(t, 1)
	var stores [2]*Store
	for i := range stores {
		s, err := OpenStore(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	for i, which := range []int{0, 1, 0, 0, 1, 0} {
		r := sampleReceipt()
		r.JobID = fmt.Sprintf("job-%d", i)
		got, err := stores[which].SignAndAppend(ctx, k, r)
		if err != nil || got.Seq != uint64(i+1) {
			t.Fatalf("append %d through store %d = seq %d, %v; want seq %d, nil", i, which, got.Seq, err, i+1)
		}
	}
	stored, err := stores[1].Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewBatch(k.ID(), stored); err != nil {
		t.Errorf("NewBatch(all stored) = %v", err)
	}
}
