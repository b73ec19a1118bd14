package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// entries lists the names in dir, so a test can see that no temporary file
// was left behind.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func checkFile(t *testing.T, path string, want []byte, perm fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", path, got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != perm {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), perm)
	}
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		old  []byte // nil: no file before
		data []byte
		perm fs.FileMode
	}{
		{"new secret", nil, []byte("seed\n"), 0o600},
		{"new public, beyond the umask", nil, []byte("hello"), 0o666},
		{"replace, new mode wins", []byte("old contents, longer"), []byte("new"), 0o644},
		{"empty", []byte("old"), nil, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.old != nil {
				if err := os.WriteFile(path, tt.old, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, tt.data, tt.perm); err != nil {
				t.Fatalf("WriteFile = %v", err)
			}
			checkFile(t, path, tt.data, tt.perm)
			if got := entries(t, dir); len(got) != 1 {
				t.Errorf("directory holds %v, want only f", got)
			}
		})
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "no", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("WriteFile into a missing directory = nil, want error")
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("directory holds %v, want nothing", got)
	}
}

// TestFailureKeepsOld: whatever goes wrong before Commit succeeds, the old
// file is intact and no temporary file is left.
func TestFailureKeepsOld(t *testing.T) {
	old := []byte("the old file")
	tests := []struct {
		name string
		// fail does part of a replacement of path and returns the error
		// that stopped it.
		fail func(f *File) error
	}{
		{"source breaks off mid-copy", func(f *File) error {
			_, err := io.Copy(f, io.MultiReader(bytes.NewReader([]byte("half of the new")), iotest.ErrReader(io.ErrUnexpectedEOF)))
			return err
		}},
		{"the write itself fails", func(f *File) error {
			f.tmp.Close() // the OS refuses the next write
			_, err := f.Write([]byte("new"))
			return err
		}},
		{"the sync fails at commit", func(f *File) error {
			f.Write([]byte("new"))
			f.tmp.Close()
			return f.Commit()
		}},
		{"caller discards after checking", func(f *File) error {
			f.Write([]byte("bytes with the wrong hash"))
			return errors.New("hash mismatch")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if err := os.WriteFile(path, old, 0o640); err != nil {
				t.Fatal(err)
			}
			f, err := Create(path, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.fail(f); err == nil {
				t.Fatal("the failing step returned nil")
			}
			f.Discard()
			checkFile(t, path, old, 0o640)
			if got := entries(t, dir); len(got) != 1 {
				t.Errorf("directory holds %v, want only f", got)
			}
			if err := f.Commit(); err == nil {
				t.Error("Commit after Discard = nil, want error")
			}
		})
	}
}

// TestCommitOverDirectory: a rename that fails leaves the target and no
// temporary file.
func TestCommitOverDirectory(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(target, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := Create(target, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Discard()
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("Commit over a non-empty directory = nil, want error")
	}
	if got := entries(t, dir); len(got) != 1 || got[0] != "d" {
		t.Errorf("directory holds %v, want only d", got)
	}
	if got := entries(t, target); len(got) != 1 {
		t.Errorf("target directory holds %v, want it untouched", got)
	}
}

// TestStreamCommit: the streaming form writes what was copied, and
// Discard after Commit leaves the new file alone; writing after Commit fails.
func TestStreamCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "download")
	f, err := Create(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Discard()
	want := bytes.Repeat([]byte("0123456789"), 100_000)
	if _, err := io.Copy(f, bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("target exists before Commit (stat: %v)", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatalf("Commit = %v", err)
	}
	f.Discard()
	checkFile(t, path, want, 0o600)
	if _, err := f.Write([]byte("more")); err == nil {
		t.Error("Write after Commit = nil, want error")
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("directory holds %v, want only download", got)
	}
}

// TestLargeStreamCommit: a file written in pieces past several write-behind
// marks (whose writeback starts while writing goes on) commits whole.
func TestLargeStreamCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "large.bin")
	want := make([]byte, 3*writeBehind+12345)
	for i := range want {
		want[i] = byte(i * 7)
	}
	f, err := Create(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Discard()
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 1<<20+3)
		if _, err := f.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if f.flushed < 3*writeBehind {
		t.Errorf("writeback started for %d bytes of %d, want every full %d", f.flushed, len(want), writeBehind)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the committed file differs from what was written")
	}
}
