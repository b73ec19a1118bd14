package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/node"
)

func TestLoadOrCreateAdminToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, node.AdminTokenFile)

	tok, created, err := node.LoadOrCreateAdminToken(dir, "", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil || !created || len(tok) < 16 {
		t.Fatalf("LoadOrCreateAdminToken(new dir) = %q, %v, %v; want a new token of 16+ characters", tok, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("token file mode = %v, want 0600", mode)
	}

	again, created, err := node.LoadOrCreateAdminToken(dir, "", bytes.NewReader(nil))
	if err != nil || created || again != tok {
		t.Errorf("LoadOrCreateAdminToken(reload) = %q, %v, %v; want %q, false, nil", again, created, err, tok)
	}

	const given = "operator-chosen-token-42"
	got, created, err := node.LoadOrCreateAdminToken(dir, given, bytes.NewReader(nil))
	if err != nil || created || got != given {
		t.Errorf("LoadOrCreateAdminToken(given) = %q, %v, %v; want %q, false, nil", got, created, err, given)
	}
	if got, _, _ := node.LoadOrCreateAdminToken(dir, "", bytes.NewReader(nil)); got != given {
		t.Errorf("LoadOrCreateAdminToken after a given token = %q, want the given token saved (%q)", got, given)
	}

	if _, _, err := node.LoadOrCreateAdminToken(dir, "too-short", bytes.NewReader(nil)); err == nil {
		t.Error("LoadOrCreateAdminToken(short given token) = nil error, want one")
	}
	if got, _, _ := node.LoadOrCreateAdminToken(dir, "", bytes.NewReader(nil)); got != given {
		t.Errorf("a refused short token replaced the saved one: got %q, want %q", got, given)
	}

	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := node.LoadOrCreateAdminToken(dir, "", bytes.NewReader(nil)); err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Errorf("LoadOrCreateAdminToken(short saved token) error = %v, want one about its length", err)
	}

	empty := t.TempDir()
	if _, _, err := node.LoadOrCreateAdminToken(empty, "", bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("LoadOrCreateAdminToken with a failing random source = nil error, want one")
	}
}
