package server_test

import (
	"net/http"
	"testing"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// TestCanonicalAddresses: a shard has one URL. Shard indexes (and every
// other integer in a path or query) are canonical decimal, and "." and
// ".." are not asset IDs; anything else is a 400 that stores nothing.
func TestCanonicalAddresses(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	if r := call(t, tn, "PUT", "/shards/canon/1", []byte("shard one"), true); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT /shards/canon/1 = %d %s", r.StatusCode, r.body)
	}
	tests := []struct {
		name, method, path string
		body               []byte
		want               int
	}{
		{"canonical index", "GET", "/shards/canon/1", nil, 200},
		{"index zero", "GET", "/shards/canon/0", nil, 404},
		{"plus sign", "GET", "/shards/canon/+1", nil, 400},
		{"encoded plus sign", "GET", "/shards/canon/%2B1", nil, 400},
		{"leading zero", "GET", "/shards/canon/01", nil, 400},
		{"two zeros", "GET", "/shards/canon/00", nil, 400},
		{"leading space", "GET", "/shards/canon/%201", nil, 400},
		{"trailing space", "GET", "/shards/canon/1%20", nil, 400},
		{"put with leading zero", "PUT", "/shards/canon/02", []byte("x"), 400},
		{"head with plus sign", "HEAD", "/shards/canon/+1", nil, 400},
		{"query leading zero", "GET", "/fetch?asset_id=canon&index=01", nil, 400},
		{"query plus sign", "GET", "/fetch?asset_id=canon&index=%2B1", nil, 400},
		{"query space", "GET", "/fetch?asset_id=canon&index=+1", nil, 400},
		{"query canonical", "GET", "/fetch?asset_id=canon&index=1", nil, 200},
		{"other integers too", "GET", "/receipts/export?limit=010", nil, 400},
		{"asset dot", "PUT", "/shards/./3", []byte("x"), 400},
		{"asset dot dot", "PUT", "/shards/../3", []byte("x"), 400},
		{"asset encoded dot dot", "GET", "/shards/%2E%2E/3", nil, 400},
		{"asset dots in JSON", "POST", "/store", []byte(`{"asset_id":"..","index":3,"data_b64":"eA=="}`), 400},
		{"file dot dot", "GET", "/assets/..", nil, 400},
		{"file dot", "GET", "/assets/./content", nil, 400},
		{"dots and more", "GET", "/shards/..a/3", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The client sends dot segments as written.
			r := call(t, tn, tt.method, tt.path, tt.body, true)
			if r.StatusCode != tt.want {
				t.Errorf("%s %s = %d, want %d (body %s)", tt.method, tt.path, r.StatusCode, tt.want, r.body)
			}
			if tt.want == 400 && tt.method != "HEAD" {
				checkProblem(t, tt.method+" "+tt.path, r, 400)
			}
		})
	}
	// Nothing but the one shard was stored.
	if got := blobFiles(t, tn); len(got) != 1 {
		t.Errorf("blobs after the refused requests: %v, want the one stored shard", got)
	}
}
