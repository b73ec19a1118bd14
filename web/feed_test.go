package web

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
)

// The websocket tests are not parallel (testutil.CheckGoroutines counts
// process-wide): parallel tests only start after every sequential one has
// finished, so the checks see only their own test's goroutines.

// leakCheck makes t fail if goroutines started during the test are still
// running after it and its cleanups (the test server's close) are done.
// Call it first, so that its cleanup runs last.
func leakCheck(t *testing.T) {
	t.Helper()
	testutil.CheckGoroutines(t)
}

// waitFeedGoroutinesGone fails t unless, within a few seconds, no live feed
// goroutine is left running.
func waitFeedGoroutinesGone(t *testing.T) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		leaked := feedGoroutines()
		if len(leaked) == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("live feed goroutines still running:\n%s", strings.Join(leaked, "\n\n"))
		}
	}
}

// feedGoroutines returns the stacks of goroutines running feed code.
func feedGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "offgrid/web.(*Handler).feed") ||
			strings.Contains(g, "offgrid/web.readLoop") ||
			strings.Contains(g, "offgrid/web.(*Handler).writeLoop") {
			out = append(out, g)
		}
	}
	return out
}

// dialFeed opens the live feed with the session cookie, from the page's
// own origin, and waits for the "live" hello.
func (e *testEnv) dialFeed(t *testing.T, cookie string) *websocket.Conn {
	t.Helper()
	return e.dialFeedURL(t, cookie, "/ui/ws")
}

// dialFeedURL is dialFeed for a feed path with a query (?view=...).
func (e *testEnv) dialFeedURL(t *testing.T, cookie, path string) *websocket.Conn {
	t.Helper()
	hdr := http.Header{"Cookie": {cookie}, "Origin": {e.srv.URL}}
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+path, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial /ui/ws: %v (status %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	msg := readMsg(t, conn)
	if !strings.Contains(msg, `id="feed-status"`) || !strings.Contains(msg, `data-state="live"`) {
		t.Fatalf("first feed message = %q, want the live status badge", msg)
	}
	return conn
}

func readMsg(t *testing.T, conn *websocket.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read feed message: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("feed message type = %d, want text", typ)
	}
	return string(b)
}

func wantAll(t *testing.T, what, msg string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("%s message lacks %q:\n%s", what, w, msg)
		}
	}
}

func TestFeedDeliversEvents(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t)
	cookie := e.login(t)
	conn := e.dialFeed(t, cookie)
	ctx := context.Background()

	if _, err := e.fake.SetActive(ctx, false); err != nil {
		t.Fatal(err)
	}
	msg := readMsg(t, conn)
	wantAll(t, "toggle", msg,
		`<ul id="feed-list" hx-swap-oob="afterbegin">`, `data-testid="feed-item"`, `data-kind="toggle"`,
		`<span class="kind">toggle</span>`, "Switched off",
		`id="status-live"`, `hx-swap-oob="true"`, `data-testid="active-state" data-active="false">Inactive`)

	compute := int64(3_000_000)
	if _, err := e.fake.UpdateAnnounce(ctx, node.AnnounceUpdate{ComputePrice: &compute}); err != nil {
		t.Fatal(err)
	}
	msg = readMsg(t, conn)
	wantAll(t, "announce", msg, `data-kind="announce"`, "Settings changed: compute 3, storage 0.25", `id="status-live"`)

	e.fake.addReceipt(fakeReceipt(3, ledger.ResourceCompute, e.clock.Now()))
	msg = readMsg(t, conn)
	wantAll(t, "receipt", msg, `data-kind="receipt"`, "Signed receipt #3 for compute job job-0003-7f3…: 3.75 units.",
		`<section id="receipts-card" class="card wide" aria-labelledby="receipts-title" hx-swap-oob="true">`,
		`<td data-label="Seq">3</td>`, `<td data-label="Seq">2</td>`, "3.75")

	e.fake.bus.Publish(node.ShardStored{AssetID: "b3f1c0ffee00112233", Index: 4, Size: 3 << 20, Hash: "ab"})
	msg = readMsg(t, conn)
	wantAll(t, "shard", msg, `data-kind="shard"`, "Stored shard 4 of asset b3f1c0ffee00… (3.0 MiB).")
	if strings.Contains(msg, "status-live") || strings.Contains(msg, "receipts-card") {
		t.Errorf("shard message refreshes more than the feed:\n%s", msg)
	}

	// Each connection trims the entries it added beyond feedMaxAdded. So
	// far it added 4 (bus seqs 1-4).
	for range feedMaxAdded - 4 {
		e.fake.bus.Publish(node.ShardStored{AssetID: "a", Index: 1, Size: 1})
		if msg := readMsg(t, conn); strings.Contains(msg, `hx-swap-oob="delete"`) {
			t.Fatalf("deletion before %d entries:\n%s", feedMaxAdded, msg)
		}
	}
	e.fake.bus.Publish(node.ShardStored{AssetID: "a", Index: 1, Size: 1})
	msg = readMsg(t, conn)
	wantAll(t, "trim", msg, `<div id="feed-1" hx-swap-oob="delete"></div>`)

	conn.Close()
}

func TestFeedOriginChecked(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t)
	cookie := e.login(t)
	wsURL := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ui/ws"
	tests := []struct {
		name   string
		origin []string
	}{
		{"other site", []string{"http://evil.example"}},
		{"other port", []string{"http://127.0.0.1:1"}},
		{"no origin", nil},
		{"garbage", []string{"::not a url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{"Cookie": {cookie}}
			if tt.origin != nil {
				hdr["Origin"] = tt.origin
			}
			conn, resp, err := websocket.DefaultDialer.Dial(wsURL, hdr)
			if err == nil {
				conn.Close()
				t.Fatalf("dial with Origin %v succeeded, want 403", tt.origin)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("dial with Origin %v: %v, want status 403", tt.origin, err)
			}
		})
	}
	// Without a session the upgrade is refused before origin matters.
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {e.srv.URL}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("dial without session: %v, want status 401", err)
	}
}

func TestFeedSlowConsumerDropped(t *testing.T) {
	leakCheck(t)
	e := newTestEnvH(t, func(h *Handler) { h.feedBuffer = 4 })
	cookie := e.login(t)
	conn := e.dialFeed(t, cookie)

	// Stall the connection's writer: for a toggle event it asks the node
	// for the announce, and the gate holds that call.
	gate := make(chan struct{})
	e.fake.mu.Lock()
	e.fake.announceGate = gate
	e.fake.mu.Unlock()
	e.fake.bus.Publish(node.ToggleChanged{Active: false})

	// Publishing more than the buffer holds must not block the engine.
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range 1000 {
			e.fake.bus.Publish(node.ShardStored{AssetID: "x", Index: i, Size: 1})
		}
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a slow feed subscriber")
	}
	close(gate)

	// The writer sends what was buffered, then closes with 1013 so the
	// page's ws extension reconnects.
	var n int
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			n++
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater {
			t.Fatalf("feed ended with %v, want close 1013 (try again later)", err)
		}
		break
	}
	if n > 1+4 {
		t.Errorf("received %d messages after stalling, want at most 1+buffer (5)", n)
	}
	conn.Close()
}

func TestFeedEndsOnShutdown(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t)
	cookie := e.login(t)
	conns := make([]*websocket.Conn, 3)
	for i := range conns {
		conns[i] = e.dialFeed(t, cookie)
	}
	e.stop()
	// The server side must end by itself while the clients, silent, keep
	// their ends open.
	waitFeedGoroutinesGone(t)
	for i, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := conn.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseServiceRestart {
			t.Errorf("conn %d: read after shutdown = %v, want close 1012 (service restart)", i, err)
		}
		conn.Close()
	}
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {3 << 20, "3.0 MiB"}, {5 << 30, "5.0 GiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.in); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
