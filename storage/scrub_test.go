package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// damage changes a stored blob on disk the way a failing disk or a careless
// operator might.
type damage func(t *testing.T, blob string)

func removeBlob(t *testing.T, blob string) {
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
}

func truncateBlob(t *testing.T, blob string) {
	if err := os.Truncate(blob, 3); err != nil {
		t.Fatal(err)
	}
}

func flipBlob(t *testing.T, blob string) {
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(blob, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStatChecksTheBlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage damage
		want   error // from the first Stat; the second then says ErrNotFound
	}{
		{"blob deleted", removeBlob, ErrCorrupt},
		{"blob truncated", truncateBlob, ErrCorrupt},
		// Same size, other bytes: only a read finds it (Open, Scrub).
		{"blob bit flipped", flipBlob, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newStore(t)
			data := bytes.Repeat([]byte("shard "), 100)
			if _, err := s.Put(t.Context(), "a.0", 1, bytes.NewReader(data), 1<<20, "", "admin"); err != nil {
				t.Fatal(err)
			}
			h := hashHex(data)
			tt.damage(t, filepath.Join(dir, "blobs", h[:2], h))
			_, err := s.Stat(t.Context(), "a.0", 1)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Stat(damaged) = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				return
			}
			if _, err := s.Stat(t.Context(), "a.0", 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("second Stat = %v, want ErrNotFound (quarantined)", err)
			}
			// The owner's repair sends the shard again: it is stored anew.
			if _, err := s.Put(t.Context(), "a.0", 1, bytes.NewReader(data), 1<<20, h, "admin"); err != nil {
				t.Fatalf("Put after quarantine: %v", err)
			}
			if got, _, err := readShard(t, s, "a.0", 1); err != nil || !bytes.Equal(got, data) {
				t.Errorf("read after re-put = %v, want the bytes back", err)
			}
		})
	}
}

func TestScrubQuarantinesLostAndCorruptShards(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	const shards = 10
	blobs := map[int]string{}
	for i := range shards {
		data := []byte(fmt.Sprintf("shard number %d, with its own bytes", i))
		if _, err := s.Put(t.Context(), "asset.0", i, bytes.NewReader(data), 1024, "", "admin"); err != nil {
			t.Fatal(err)
		}
		h := hashHex(data)
		blobs[i] = filepath.Join(dir, "blobs", h[:2], h)
	}
	removeBlob(t, blobs[2])
	flipBlob(t, blobs[5])
	truncateBlob(t, blobs[9])

	// Steps of 3: a pass is 4 calls, each continuing where the last stopped.
	var (
		cur     ScrubCursor
		checked int
		bad     []int
		calls   int
	)
	for {
		res, err := s.Scrub(t.Context(), cur, 3)
		if err != nil {
			t.Fatalf("Scrub: %v", err)
		}
		calls++
		checked += res.Checked
		for _, sh := range res.Bad {
			bad = append(bad, sh.Index)
		}
		if res.Done {
			break
		}
		cur = res.Next
		if calls > shards {
			t.Fatal("Scrub never reported the pass done")
		}
	}
	if checked != shards || calls != 4 {
		t.Errorf("pass checked %d shards in %d calls, want %d in 4", checked, calls, shards)
	}
	if diff := cmp.Diff([]int{2, 5, 9}, bad); diff != "" {
		t.Errorf("Scrub bad shards mismatch (-want +got):\n%s", diff)
	}
	for i := range shards {
		_, err := s.Stat(t.Context(), "asset.0", i)
		if wantGone := i == 2 || i == 5 || i == 9; wantGone != errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(shard %d) after scrub = %v, want gone: %v", i, err, wantGone)
		}
	}
	// A second pass finds nothing more.
	res, err := s.Scrub(t.Context(), ScrubCursor{}, 100)
	if err != nil || len(res.Bad) != 0 || res.Checked != shards-3 || !res.Done {
		t.Errorf("second pass = %+v, %v; want %d clean shards", res, err, shards-3)
	}
}

// TestPutOverLostBlob: a Put of an address whose blob was lost (the row is
// still there, nobody has looked) quarantines the row while it holds the
// store's blob lock, and stores the shard anew instead of deadlocking.
func TestPutOverLostBlob(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		damage damage
	}{{"blob deleted", removeBlob}, {"blob truncated", truncateBlob}} {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newStore(t)
			data := bytes.Repeat([]byte("lost "), 100)
			h := hashHex(data)
			if _, err := s.Put(t.Context(), "a.0", 1, bytes.NewReader(data), 1<<20, h, "admin"); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, filepath.Join(dir, "blobs", h[:2], h))
			done := make(chan error, 1)
			go func() {
				_, err := s.Put(t.Context(), "a.0", 1, bytes.NewReader(data), 1<<20, h, "admin")
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Put over a lost blob = %v, want it stored anew", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Put over a lost blob did not return: the store deadlocked on its blob lock")
			}
			if got, _, err := readShard(t, s, "a.0", 1); err != nil || !bytes.Equal(got, data) {
				t.Errorf("read after the new Put = %v, want the bytes back", err)
			}
		})
	}
}
