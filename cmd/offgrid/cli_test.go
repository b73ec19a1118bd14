package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/tetratelabs/wazero"

	"github.com/offgrid-net/offgrid/compute/computetest"
)

// testWasmCache is the compilation cache every node of this test binary
// shares, as the nodes of a demo do: a module is compiled once for all.
var testWasmCache = wazero.NewCompilationCache()

// withTestWasm gives a test node the shared compilation cache, and the
// interpreter under the race detector (which makes wazero's compiler take
// half a minute for a Go module).
func withTestWasm(o *nodeOptions) {
	o.wasmCache = testWasmCache
	o.wasmInterpreter = computetest.Race
}

// startNode runs a node in-process on a loopback port and returns its URL
// and admin token. The node stops when the test ends.
func startNode(t *testing.T, o nodeOptions) (url, token string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.name == "" {
		o.name = "cli-test"
	}
	if o.storeConcurrency == 0 {
		o.storeConcurrency = 4
	}
	if o.maxShardBytes == 0 {
		o.maxShardBytes = 1 << 20
	}
	withTestWasm(&o)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan nodeStarted, 1)
	done := make(chan error, 1)
	go func() {
		done <- runNode(ctx, o, ln, slog.New(slog.DiscardHandler), func(s nodeStarted) { started <- s })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runNode() = %v", err)
		}
	})
	select {
	case s := <-started:
		return s.url, s.token
	case err := <-done:
		t.Fatalf("node did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("node did not start within 30s")
	}
	return "", ""
}

// cli runs the offgrid command line with args and returns its output.
func cli(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String() + errOut.String(), err
}

func mustCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := cli(t, env, args...)
	if err != nil {
		t.Fatalf("offgrid %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestClientCommands(t *testing.T) {
	url, token := startNode(t, nodeOptions{})
	env := map[string]string{"OFFGRID_TOKEN": token, "OFFGRID_NODE": url}

	if out := mustCLI(t, env, "status"); !strings.Contains(out, "cli-test") || !strings.Contains(out, "active") ||
		!strings.Contains(out, " free (minimum ") || !strings.Contains(out, "; database ok") || !strings.Contains(out, "credits per million tokens") {
		t.Errorf("status output = %q, want name and state", out)
	}
	if out, err := cli(t, map[string]string{"OFFGRID_NODE": url}, "toggle", "off"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("toggle without token = %v (%s), want a 401 error", err, out)
	}
	if out := mustCLI(t, env, "toggle", "off"); !strings.Contains(out, "inactive") {
		t.Errorf("toggle off output = %q", out)
	}
	if _, err := cli(t, env, "quote", "compute", "0.3"); err == nil || !strings.Contains(err.Error(), "inactive") {
		t.Errorf("quote on an inactive host = %v, want an inactive error", err)
	}
	mustCLI(t, env, "toggle", "on")

	var q struct{ Price, Type string }
	if err := json.Unmarshal([]byte(mustCLI(t, env, "quote", "compute", "0.3", "--json")), &q); err != nil {
		t.Fatal(err)
	}
	if q.Price != "0.3" || q.Type != "compute" {
		t.Errorf("quote compute 0.3 = %+v, want price 0.3 at the default price 1", q)
	}
	for _, bad := range [][]string{{"quote", "gpu", "1"}, {"quote", "compute", "-1"}, {"toggle", "maybe"}, {"run", "bad job id!"}} {
		if out, err := cli(t, env, bad...); err == nil {
			t.Errorf("offgrid %v succeeded (%s), want an error", bad, out)
		}
	}

	for _, job := range []string{"job-1", "job-2", "job-3"} {
		out := mustCLI(t, env, "run", job, "--metric", "compute_tokens_m=0.1", "--metric", "latency_ms=800")
		if !strings.Contains(out, "receipt #") {
			t.Errorf("run %s output = %q", job, out)
		}
	}
	batch := filepath.Join(t.TempDir(), "batch.json")
	mustCLI(t, env, "receipts", "export", "-o", batch)
	if out := mustCLI(t, env, "receipts", "verify", batch); !strings.HasPrefix(out, "ok: 3 receipts") {
		t.Errorf("receipts verify output = %q", out)
	}
	data, err := os.ReadFile(batch)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.json")
	if err := os.WriteFile(tampered, bytes.Replace(data, []byte(`"job-2"`), []byte(`"job-9"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, env, "receipts", "verify", tampered); err == nil {
		t.Error("receipts verify accepted a tampered batch")
	}

	shard := filepath.Join(t.TempDir(), "shard.bin")
	payload := make([]byte, 200_000)
	rand.Read(payload)
	if err := os.WriteFile(shard, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, env, "store", shard, "--asset", "asset-1", "--index", "3")
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, env, "fetch", "--asset", "asset-1", "--index", "3", "-o", got)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, payload) {
		t.Error("fetched shard differs from the stored one")
	}
	if _, err := cli(t, env, "fetch", "--asset", "asset-1", "--index", "4", "-o", got); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("fetch of a missing shard = %v, want a 404 error", err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, payload) {
		t.Error("a failed fetch changed the file it would have replaced")
	}
	outDir := t.TempDir()
	if _, err := cli(t, env, "get", "no-such-asset", "-o", filepath.Join(outDir, "x")); err == nil || !strings.Contains(err.Error(), "no file with ID no-such-asset on this node") {
		t.Errorf("get of a missing asset = %v, want it to say there is no such file", err)
	}
	if left, _ := os.ReadDir(outDir); len(left) != 0 {
		t.Errorf("a failed get left %v behind", left)
	}
}

// TestClientErrors: every answer that is not a success becomes the
// command's error, rendered in one place, whichever command made the call
// and whatever the server at --node sent.
func TestClientErrors(t *testing.T) {
	const problemType = "application/problem+json"
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		args        []string
		want        string
	}{
		{"problem with detail", 404, problemType, `{"type":"about:blank","title":"Not Found","status":404,"detail":"no shard 3 of x"}`,
			[]string{"fetch", "--asset", "x", "--index", "3", "-o", "OUT"}, "node answered 404 Not Found: no shard 3 of x"},
		{"an asset that is not there", 404, problemType, `{"type":"about:blank","title":"Not Found","status":404,"detail":"no asset x"}`,
			[]string{"assets", "x"}, "no file with ID x on this node; see `offgrid assets`"},
		{"a get of an asset that is not there", 404, problemType, `{"type":"about:blank","title":"Not Found","status":404,"detail":"no asset x"}`,
			[]string{"get", "x"}, "no file with ID x on this node; see `offgrid assets`"},
		{"problem on a streaming call", 503, problemType, `{"type":"about:blank","title":"Service Unavailable","status":503}`,
			[]string{"get", "x", "-o", "OUT"}, "node answered 503 Service Unavailable"},
		{"401 tells how to authenticate", 401, problemType, `{"type":"about:blank","title":"Unauthorized","status":401}`,
			[]string{"toggle", "on"}, "(pass --token or set OFFGRID_TOKEN)"},
		{"not a problem: status and body", 502, "text/plain", "bad gateway\n",
			[]string{"peers"}, "node answered 502 Bad Gateway: bad gateway"},
		{"JSON that is not a problem", 500, "application/json", `["x"]`,
			[]string{"status"}, `node answered 500 Internal Server Error: ["x"]`},
		{"success without the documented body", 200, "text/html", "<html>",
			[]string{"peers"}, "node answered 200 OK without the documented body"},
		{"an error body is read only so far", 500, "text/plain", strings.Repeat("x", 1<<20),
			[]string{"peers"}, "node answered 500 Internal Server Error: " + strings.Repeat("x", maxProblemBody)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			dir := t.TempDir()
			args := slices.Clone(tt.args)
			for i, a := range args {
				if a == "OUT" {
					args[i] = filepath.Join(dir, "out")
				}
			}
			out, err := cli(t, map[string]string{"OFFGRID_NODE": srv.URL, "OFFGRID_TOKEN": "t"}, args...)
			if err == nil {
				t.Fatalf("offgrid %v succeeded (%s), want an error", args, out)
			}
			if got := err.Error(); !strings.Contains(got, tt.want) || len(got) > len(tt.want)+200 {
				t.Errorf("offgrid %v = %.300q, want it to contain %.300q", args, got, tt.want)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("a failed command left %v behind", left)
			}
		})
	}
}

// TestBusyNodeIsAskedAgain: a read the node answers 503 with Retry-After
// is asked again, at most busyRetries times, saying so; a 503 without
// Retry-After, and a write, are answered at once.
func TestBusyNodeIsAskedAgain(t *testing.T) {
	tests := []struct {
		name       string
		busy       int    // how many requests get 503 first
		retryAfter string // the 503's Retry-After
		args       []string
		wantCalls  int
		wantErr    string // empty: the command succeeds
	}{
		{"busy twice, then an answer", 2, "0", []string{"peers"}, 3, ""},
		{"busy every time", 10, "0", []string{"peers"}, 1 + busyRetries, "node answered 503 Service Unavailable: busy, retry later"},
		{"503 without Retry-After", 10, "", []string{"peers"}, 1, "node answered 503"},
		{"an unreadable Retry-After", 10, "soon", []string{"peers"}, 1, "node answered 503"},
		{"a write is not sent again", 10, "0", []string{"toggle", "on"}, 1, "node answered 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if int(calls.Add(1)) <= tt.busy {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.Header().Set("Content-Type", "application/problem+json")
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"busy, retry later"}`)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"peers":[]}`)
			}))
			defer srv.Close()
			out, err := cli(t, map[string]string{"OFFGRID_NODE": srv.URL, "OFFGRID_TOKEN": "t"}, tt.args...)
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("the node was asked %d times, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("offgrid %v = %v", tt.args, err)
				}
				if n := strings.Count(out, "the node is busy (503 Service Unavailable); asking again in 0s"); n != tt.busy {
					t.Errorf("%d notices of a retry, want %d:\n%s", n, tt.busy, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("offgrid %v = %v, want %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

// TestECCommands: ec encode and decode restore a file from any k shard
// files; a decode that fails (too few shards) leaves the output file as it
// was and no temporary file beside it.
func TestECCommands(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := make([]byte, 100_000)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ecDir := filepath.Join(dir, "ec")
	mustCLI(t, nil, "ec", "encode", src, "--k", "3", "--n", "5", "--shard-size", "4096", "--outdir", ecDir)
	for _, i := range []int{0, 2} {
		if err := os.Remove(filepath.Join(ecDir, fmt.Sprintf("shard_%03d.bin", i))); err != nil {
			t.Fatal(err)
		}
	}
	outDir := t.TempDir()
	out := filepath.Join(outDir, "restored.bin")
	mustCLI(t, nil, "ec", "decode", "--indir", ecDir, "--outfile", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("ec decode restored different bytes")
	}
	if err := os.Remove(filepath.Join(ecDir, "shard_001.bin")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, nil, "ec", "decode", "--indir", ecDir, "--outfile", out); err == nil {
		t.Fatal("ec decode from 2 of 5 shards with k=3 succeeded")
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Error("a failed ec decode changed the file it would have replaced")
	}
	if left, _ := os.ReadDir(outDir); len(left) != 1 {
		t.Errorf("a failed ec decode left %v behind", left)
	}
}

func TestKeysCommands(t *testing.T) {
	dir := t.TempDir()
	if _, err := cli(t, nil, "keys", "show", "--data", dir); err == nil {
		t.Error("keys show in an empty dir succeeded")
	}
	first := mustCLI(t, nil, "keys", "gen", "--data", dir, "--json")
	var k struct {
		NodeID  string `json:"node_id"`
		Created bool
	}
	if err := json.Unmarshal([]byte(first), &k); err != nil || !k.Created || !strings.HasPrefix(k.NodeID, "did:key:z6Mk") {
		t.Fatalf("keys gen = %s (%v), want a new did:key", first, err)
	}
	st, err := os.Stat(filepath.Join(dir, "keys.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("keys.json mode = %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if out := mustCLI(t, nil, "keys", "show", "--data", dir); !strings.Contains(out, k.NodeID) {
		t.Errorf("keys show = %q, want the same ID %s", out, k.NodeID)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("name = \"from-file\"\nlisten = \"127.0.0.1:9001\"\ncluster = \"file-cluster\"\npeers = [\"http://127.0.0.1:9101\", \"http://127.0.0.1:9102\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		args             []string
		env              map[string]string
		wantName, wantLn string
		wantCluster      string
		wantPeers        int
	}{
		{"file only", nil, nil, "from-file", "127.0.0.1:9001", "file-cluster", 2},
		{"env beats file", nil, map[string]string{"OFFGRID_NAME": "from-env"}, "from-env", "127.0.0.1:9001", "file-cluster", 2},
		{"flag beats env", []string{"--name", "from-flag"}, map[string]string{"OFFGRID_NAME": "from-env"}, "from-flag", "127.0.0.1:9001", "file-cluster", 2},
		{"flag list beats file", []string{"--peers", "http://127.0.0.1:9200"}, nil, "from-file", "127.0.0.1:9001", "file-cluster", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o nodeOptions
			cmd := &cobra.Command{Use: "node"}
			o.flags(cmd)
			if err := cmd.ParseFlags(append([]string{"--data", dir}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(cmd.Flags(), func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			if err := applyTOML(cmd.Flags(), o.dataDir); err != nil {
				t.Fatal(err)
			}
			if o.name != tt.wantName || o.listen != tt.wantLn || o.cluster != tt.wantCluster || len(o.peers) != tt.wantPeers {
				t.Errorf("options = name %q listen %q cluster %q peers %v, want %q %q %q %d peers",
					o.name, o.listen, o.cluster, o.peers, tt.wantName, tt.wantLn, tt.wantCluster, tt.wantPeers)
			}
		})
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, ConfigFile), []byte("nmae = \"typo\"\n"), 0o600)
	var o nodeOptions
	cmd := &cobra.Command{Use: "node"}
	o.flags(cmd)
	if err := applyTOML(cmd.Flags(), bad); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("applyTOML(typo) = %v, want an unknown-setting error", err)
	}
}

func TestNodeRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"node", "--listen", "127.0.0.1:99999", "--data", t.TempDir()},
		{"node", "--admin-token", "short", "--listen", "127.0.0.1:0", "--data", t.TempDir()},
		{"node", "--log-level", "loud", "--data", t.TempDir()},
		{"node", "--body-min-rate", "-1", "--listen", "127.0.0.1:0", "--data", t.TempDir()},
		{"node", "--body-grace", "-1s", "--listen", "127.0.0.1:0", "--data", t.TempDir()},
		{"node", "--min-free-bytes", "-1", "--listen", "127.0.0.1:0", "--data", t.TempDir()},
		{"demo", "--nodes", "0"},
		{"demo", "--host", "10.0.0.1"},
	} {
		if out, err := cli(t, nil, args...); err == nil {
			t.Errorf("offgrid %v succeeded (%s), want an error", args, out)
		}
	}
}
