package main

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// TestDataDirModes runs a node on a data directory it creates and stores a
// file: every file in it (keys, admin token, database and its WAL, shard
// blobs) is 0600 and every directory 0700.
func TestDataDirModes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	m := startMesh(t, 1, func(_ int, o *nodeOptions) { o.dataDir = data })
	putFile(t, m.env(0), randomFile(t, 100<<10))
	files := 0
	err := filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if got := fi.Mode().Perm(); got != want {
			rel, _ := filepath.Rel(data, p)
			t.Errorf("mode of DATA/%s = %v, want %v", filepath.ToSlash(rel), got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Errorf("found %d files in the data directory, want at least keys, token, database, WAL and a blob", files)
	}
}
