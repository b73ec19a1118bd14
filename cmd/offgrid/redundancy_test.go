package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listAssets returns what `offgrid assets --json` says about node i.
func (m *testMesh) listAssets(t *testing.T, i int) []assetJSON {
	t.Helper()
	var list struct{ Assets []assetJSON }
	if err := json.Unmarshal([]byte(mustCLI(t, m.env(i), "assets", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	return list.Assets
}

// TestPutNeedsDistinctHosts: an explicit k/n (or r) that n distinct live
// hosts cannot meet is refused, naming the hosts found, and stores
// nothing; with --allow-shared-hosts it is stored and the answer says the
// host losses the file really survives.
func TestPutNeedsDistinctHosts(t *testing.T) {
	m := startMesh(t, 3, nil)
	env := m.env(0)
	src := randomFile(t, 300_000)
	// Right after start, however many of the 3 hosts the node knows yet.
	_, err := cli(t, env, "put", src, "--k", "12", "--n", "20", "--no-progress")
	if err == nil || !strings.Contains(err.Error(), "409 Conflict") || !strings.Contains(err.Error(), "ec k=12 n=20 needs 20 distinct live hosts") ||
		!strings.Contains(err.Error(), "node-0 ("+m.nodes[0].url+")") {
		t.Fatalf("put 12/20 right after start = %v, want a 409 naming the hosts found (node-0 at least)", err)
	}
	m.waitPeers(0, 2)
	tests := []struct {
		name     string
		args     []string
		want     string
		survives int
	}{
		// 20 shards per stripe on 3 hosts: 7, 7 and 6. Losing a 7 leaves
		// 13 of the 12 needed; losing two leaves 6.
		{"ec", []string{"--k", "12", "--n", "20"}, "ec k=12 n=20 needs 20 distinct live hosts and this node found 3: ", 1},
		// 5 replicas on 3 hosts: 2, 2 and 1. Any two hosts may go.
		{"rep", []string{"--mode", "rep", "--r", "5"}, "rep r=5 needs 5 distinct live hosts and this node found 3: ", 2},
	}
	for _, tt := range tests {
		_, err := cli(t, env, append([]string{"put", src, "--no-progress"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), "409 Conflict") || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("%s: put %v on 3 hosts = %v, want a 409 saying %q", tt.name, tt.args, err, tt.want)
		}
		for _, mn := range m.nodes {
			if named := mn.opts.name + " (" + mn.url + ")"; !strings.Contains(err.Error(), named) {
				t.Errorf("%s: the refusal %q does not name host %s", tt.name, err, named)
			}
		}
		if as := m.listAssets(t, 0); len(as) != 0 {
			t.Fatalf("%s: after the refused put the node lists %+v, want nothing", tt.name, as)
		}
	}
	for _, tt := range tests {
		a := putFile(t, env, src, append(tt.args, "--allow-shared-hosts")...)
		if a.State != "stored" || a.Hosts != 3 || a.Survives != tt.survives {
			t.Errorf("%s: put %v --allow-shared-hosts = %+v, want stored on 3 hosts, surviving %d host losses", tt.name, tt.args, a, tt.survives)
		}
		if out := mustCLI(t, env, "assets", a.AssetID); !strings.Contains(out, fmt.Sprintf("survives %d host loss", tt.survives)) {
			t.Errorf("%s: offgrid assets %s = %q, want it to say it survives %d", tt.name, a.AssetID, out, tt.survives)
		}
		// Once stored, the same file with other parameters is a second
		// asset, not a silent success that ignores them.
		if other := putFile(t, env, src, "--k", "1", "--n", "2"); other.AssetID == a.AssetID || other.K != 1 || other.N != 2 || other.State != "stored" {
			t.Errorf("%s: put of the stored file with k=1 n=2 = %+v, want a new 1/2 asset beside %s", tt.name, other, a.AssetID)
		}
		got := filepath.Join(t.TempDir(), "got.bin")
		mustCLI(t, env, "get", a.AssetID, "-o", got, "--no-progress")
		sameBytes(t, src, got)
		// The next case stores other content: this one is stored now.
		src = randomFile(t, 300_000)
	}
	// Left to choose, the node claims no more than 3 hosts give: 2 of 3.
	if a := putFile(t, env, src); a.State != "stored" || a.K != 2 || a.N != 3 || a.Hosts != 3 || a.Survives != 1 {
		t.Errorf("adaptive put on 3 hosts = %+v, want 2/3 stored on 3 hosts, surviving 1 host loss", a)
	}
}

// TestPutAgainStartsFresh: running a put again after it was interrupted
// (with other parameters) or after the file was lost starts a fresh
// upload with the parameters given, under a new asset ID, instead of
// answering with the old, broken manifest.
func TestPutAgainStartsFresh(t *testing.T) {
	m := startMesh(t, 4, func(i int, o *nodeOptions) {
		if i == 0 {
			o.repairInterval = time.Hour // peer loss triggers the check, not the clock
			o.repairThreshold = 1        // never rebuild: the test wants the file lost
		}
	})
	m.waitPeers(0, 3)
	env := m.env(0)
	src := randomFile(t, 2<<20)
	hash, size, err := hashFile(src)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Half the file, then the sender hangs up: a pending upload of 2/4.
	conn, err := net.Dial("tcp", m.nodes[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /assets?k=2&n=4&shard_size=65536&name=f.bin HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nOffgrid-Content-Hash: %s\r\nContent-Length: %d\r\n\r\n",
		m.nodes[0].addr, m.nodes[0].token, hash, size)
	conn.Write(data[:size/2])
	conn.(*net.TCPConn).CloseWrite()
	answer, _ := io.ReadAll(conn)
	conn.Close()
	if !bytes.Contains(answer, []byte("400 Bad Request")) {
		t.Fatalf("interrupted upload answered %q, want 400", answer)
	}
	pending := m.listAssets(t, 0)
	if len(pending) != 1 || pending[0].State != "pending" || pending[0].K != 2 {
		t.Fatalf("after the interruption assets = %+v, want one pending 2/4 upload", pending)
	}

	// Run again with other parameters: a fresh 3/4 upload replaces it.
	fresh := putFile(t, env, src, "--k", "3", "--n", "4")
	if fresh.State != "stored" || fresh.K != 3 || fresh.N != 4 || fresh.AssetID == pending[0].AssetID || fresh.Survives != 1 {
		t.Fatalf("put again with k=3 n=4 = %+v, want a new asset (not %s) stored as 3/4 surviving 1 host loss", fresh, pending[0].AssetID)
	}
	if as := m.listAssets(t, 0); len(as) != 1 || as[0].AssetID != fresh.AssetID {
		t.Fatalf("after the fresh upload assets = %+v, want only %s", as, fresh.AssetID)
	}
	// The same put again finds it stored and uploads nothing.
	if again := putFile(t, env, src, "--k", "3", "--n", "4"); again.AssetID != fresh.AssetID || again.State != "stored" {
		t.Fatalf("put of the stored file = %+v, want %s as stored", again, fresh.AssetID)
	}

	// Three of the four hosts go: the owner's repair pass finds it lost.
	for i := 1; i <= 3; i++ {
		m.kill(i)
	}
	waitAsset(t, m, fresh.AssetID, "lost")
	// They come back, still holding the shards of the lost upload.
	for i := 1; i <= 3; i++ {
		m.restart(i)
	}
	m.waitPeers(0, 3)
	again := putFile(t, env, src, "--k", "3", "--n", "4")
	if again.State != "stored" || again.AssetID == fresh.AssetID || again.Hosts != 4 || again.MinLive != 4 || again.Survives != 1 {
		t.Fatalf("put again after the loss = %+v, want a fresh upload (not %s) stored on 4 hosts, surviving 1 host loss", again, fresh.AssetID)
	}
	if as := m.listAssets(t, 0); len(as) != 1 || as[0].AssetID != again.AssetID {
		t.Errorf("after the fresh upload assets = %+v, want only %s", as, again.AssetID)
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, env, "get", again.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
}

// waitAsset waits until node 0 reports the asset in state.
func waitAsset(t *testing.T, m *testMesh, id, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var a assetJSON
		if err := json.Unmarshal([]byte(mustCLI(t, m.env(0), "assets", id, "--json")), &a); err != nil {
			t.Fatal(err)
		}
		if a.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("asset %s is %+v after 30s, want %s", id, a, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStaticPeersPolledRightAfterStart: a static peer that was not up when
// the node started is known a moment after it comes up, not one poll
// interval (here a minute) later.
func TestStaticPeersPolledRightAfterStart(t *testing.T) {
	m := startMesh(t, 2, func(_ int, o *nodeOptions) { o.peerPoll = time.Minute })
	m.kill(1)
	m.kill(0)
	m.restart(0)
	// Node 1 is down: node 0's first poll finds nobody.
	deadline := time.Now().Add(10 * time.Second)
	for peerState(t, m.nodes[0].url, m.nodes[1].url) != "down" {
		if time.Now().After(deadline) {
			t.Fatal("node 0 did not mark its stopped static peer down after its first poll")
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.restart(1)
	start := time.Now()
	m.waitPeers(0, 1)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("node 0 saw its static peer up %v after it started, want within seconds (poll interval 1 min)", took)
	}
}

// peerState returns the state the node at url gives the peer at endpoint
// ("" when it does not list it).
func peerState(t *testing.T, url, endpoint string) string {
	t.Helper()
	resp, err := http.Get(url + "/peers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pl struct {
		Peers []struct{ Endpoint, State string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&pl); err != nil {
		t.Fatal(err)
	}
	for _, p := range pl.Peers {
		if p.Endpoint == endpoint {
			return p.State
		}
	}
	return ""
}
