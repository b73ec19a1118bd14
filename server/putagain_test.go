package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/server/servertest"
)

// TestPutAgain: a put of content stored already with the parameters asked
// for (or none) answers 200 with the stored asset, before reading the
// body, so a client that sends Expect: 100-continue uploads nothing; the
// same content with other explicit parameters is a new asset (201).
func TestPutAgain(t *testing.T) {
	t.Parallel()
	tn := servertest.Start(t, servertest.Options{})
	data := []byte("the same bytes, stored twice over")
	hash := hashOf(data)
	put := func(query string) (int, string) {
		req := newRequest(t, tn, "POST", "/assets?name=same.txt"+query, data, true)
		req.Header.Set("Offgrid-Content-Hash", hash)
		r := do(t, tn, req)
		var a struct {
			AssetID string `json:"asset_id"`
			K, N    int
			Mode    string
		}
		decodeJSON(t, r, &a)
		return r.StatusCode, fmt.Sprintf("%s %s %d/%d", a.AssetID, a.Mode, a.K, a.N)
	}
	status, first := put("")
	if status != http.StatusCreated {
		t.Fatalf("first put = %d %s, want 201", status, first)
	}
	tests := []struct {
		name   string
		query  string
		status int
		// same says the answer is the first asset.
		same bool
	}{
		{"no parameters", "", http.StatusOK, true},
		{"the parameters the node chose", "&k=1&n=1", http.StatusOK, true},
		{"other parameters", "&mode=rep&r=1", http.StatusCreated, false},
		{"those again", "&mode=rep&r=1", http.StatusOK, false},
		{"other shard size", "&k=1&n=1&shard_size=8192", http.StatusCreated, false},
	}
	for _, tt := range tests {
		status, got := put(tt.query)
		if status != tt.status || (got == first) != tt.same || strings.Fields(got)[0] == "" {
			t.Errorf("%s: put = %d %s, want %d (first asset: %v, %s)", tt.name, status, got, tt.status, tt.same, first)
		}
	}

	// Headers only, with Expect: 100-continue: the node answers 200 at
	// once, with no 100 Continue, so no byte of the body is sent.
	conn, err := net.Dial("tcp", strings.TrimPrefix(tn.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /assets?name=same.txt HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/octet-stream\r\n"+
		"Offgrid-Content-Hash: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		strings.TrimPrefix(tn.URL, "http://"), servertest.AdminToken, hash, len(data))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("put with Expect: 100-continue and no body = %s, want 200 before the body", resp.Status)
	}
}
