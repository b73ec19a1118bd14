package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBrowser drives the dashboard of a real node in Debian's Chromium with
// Playwright (web/e2e/*.mjs). `make test-browser` sets OFFGRID_BROWSER_TESTS=1
// after installing chromium and the npm packages; then a missing browser is a
// failure, not a skip.
func TestBrowser(t *testing.T) {
	if os.Getenv("OFFGRID_BROWSER_TESTS") != "1" {
		t.Skip("browser tests run with OFFGRID_BROWSER_TESTS=1 (make test-browser)")
	}
	for _, need := range []string{"/usr/bin/chromium", "../../web/node_modules/playwright-core"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s missing: run `make deps assets` (%v)", need, err)
		}
	}
	scripts, err := filepath.Glob("../../web/e2e/*.mjs")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no browser scripts in web/e2e (%v)", err)
	}
	shots, err := filepath.Abs("../../web/screenshots")
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range scripts {
		t.Run(filepath.Base(script), func(t *testing.T) {
			// A small mesh, so the storage page has hosts to spread shards over.
			m := startMesh(t, 3, nil)
			m.waitPeers(0, 2)
			url, token := m.nodes[0].url, m.nodes[0].token
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", script)
			cmd.Env = append(os.Environ(), "OFFGRID_URL="+url, "OFFGRID_TOKEN="+token, "OFFGRID_SCREENSHOTS="+shots)
			out, err := cmd.CombinedOutput()
			t.Logf("%s:\n%s", filepath.Base(script), out)
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(script), err)
			}
		})
	}
}
