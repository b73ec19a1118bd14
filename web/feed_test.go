package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/offgrid-net/offgrid/internal/testutil"
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
	return e.dialFeedWith(t, websocket.DefaultDialer, cookie, path)
}

// dialFeedWith is dialFeedURL with a given dialer.
func (e *testEnv) dialFeedWith(t *testing.T, d *websocket.Dialer, cookie, path string) *websocket.Conn {
	t.Helper()
	hdr := http.Header{"Cookie": {cookie}, "Origin": {e.srv.URL}}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+path, hdr)
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

// readUntil reads feed messages until one contains want, and returns it.
func readUntil(t *testing.T, conn *websocket.Conn, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if msg := readMsg(t, conn); strings.Contains(msg, want) {
			return msg
		}
	}
	t.Fatalf("no feed message with %q within 10s", want)
	return ""
}

// checkThrottled fails t if a card was refreshed more often than once per
// throttle period (plus the first refresh, at once) since start.
func checkThrottled(t *testing.T, what string, cards int, start time.Time, every time.Duration) {
	t.Helper()
	if most := int(time.Since(start)/every) + 1; cards > most {
		t.Errorf("%d %s refreshes in %v, want at most %d (one per %v)", cards, what, time.Since(start).Round(time.Millisecond), most, every)
	}
}

func wantAll(t *testing.T, what, msg string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("%s message lacks %q:\n%s", what, w, msg)
		}
	}
}

// feedIDs are the ids of a message's feed entries.
var feedIDs = regexp.MustCompile(`<li\s[^>]*?id="(feed-\d+)"`)

func TestFeedDeliversEvents(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{})
	e.runJob(t, "job-0001-7f3a9c2e", 1.25)
	e.runJob(t, "job-0002-7f3a9c2e", 2.5)
	cookie := e.login(t)
	conn := e.dialFeed(t, cookie)
	ctx := t.Context()

	if _, err := e.node.SetActive(ctx, false); err != nil {
		t.Fatal(err)
	}
	msg := readMsg(t, conn)
	wantAll(t, "toggle", msg,
		`<ul id="feed-list" hx-swap-oob="afterbegin">`, `data-testid="feed-item"`, `data-kind="toggle"`,
		`<span class="kind">toggle</span>`, "Switched off",
		`id="status-live"`, `hx-swap-oob="true"`, `data-testid="active-state" data-active="false">Inactive`)
	ids := feedIDs.FindStringSubmatch(msg)
	if ids == nil {
		t.Fatalf("toggle message has no feed entry id:\n%s", msg)
	}
	first := ids[1]
	// Switched off, the node runs no jobs and stores no shards.
	if _, err := e.node.SetActive(ctx, true); err != nil {
		t.Fatal(err)
	}
	wantAll(t, "toggle on", readMsg(t, conn), "Switched on", `data-testid="active-state" data-active="true">Active`)

	compute := int64(3_000_000)
	if _, err := e.node.UpdateAnnounce(ctx, node.AnnounceUpdate{ComputePrice: &compute}); err != nil {
		t.Fatal(err)
	}
	msg = readMsg(t, conn)
	wantAll(t, "announce", msg, `data-kind="announce"`, "Settings changed: compute 3, storage 0.1", `id="status-live"`)

	e.runJob(t, "job-0003-7f3a9c2e", 3.75)
	msg = readMsg(t, conn)
	wantAll(t, "receipt", msg, `data-kind="receipt"`, "Signed receipt #3 for compute job job-0003-7f3…: 3.75 units.",
		`<section id="receipts-card" class="card wide" aria-labelledby="receipts-title" hx-swap-oob="true">`,
		`<td data-label="Seq">3</td>`, `<td data-label="Seq">2</td>`, "3.75")

	if _, err := e.node.StoreShard(ctx, "b3f1c0ffee00112233", 4, bytes.NewReader(make([]byte, 3<<20)), "", "admin"); err != nil {
		t.Fatal(err)
	}
	msg = readMsg(t, conn)
	wantAll(t, "shard", msg, `data-kind="shard"`, "Stored shard 4 of asset b3f1c0ffee00… (3.0 MiB).")
	if strings.Contains(msg, "status-live") || strings.Contains(msg, "receipts-card") {
		t.Errorf("shard message refreshes more than the feed:\n%s", msg)
	}

	// Each connection trims the entries it added beyond feedMaxAdded. So
	// far it added 5.
	for i := range feedMaxAdded - 5 {
		if _, err := e.node.SetActive(ctx, i%2 == 0); err != nil {
			t.Fatal(err)
		}
		if msg := readMsg(t, conn); strings.Contains(msg, `hx-swap-oob="delete"`) {
			t.Fatalf("deletion before %d entries:\n%s", feedMaxAdded, msg)
		}
	}
	if _, err := e.node.SetActive(ctx, true); err != nil {
		t.Fatal(err)
	}
	msg = readMsg(t, conn)
	wantAll(t, "trim", msg, `<div id="`+first+`" hx-swap-oob="delete"></div>`)

	conn.Close()
}

func TestFeedOriginChecked(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{})
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

// smallSendBuffers shrinks the kernel send buffer of every accepted
// connection, as on a congested link, so that a client that stops reading
// blocks the server's writes within a few kilobytes.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetWriteBuffer(4 << 10); err != nil {
			c.Close()
			return nil, fmt.Errorf("shrink send buffer: %w", err)
		}
	}
	return c, err
}

func TestFeedSlowConsumerDropped(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{
		handler:  func(h *Handler) { h.feedBuffer = 4 },
		listener: func(l net.Listener) net.Listener { return smallSendBuffers{l} },
	})
	cookie := e.login(t)
	// A client with a small receive buffer that stops reading after the
	// hello: the server's writes to it block, and the connection's events
	// pile up in its subscription.
	slow := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := c.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}}
	conn := e.dialFeedWith(t, slow, cookie, "/ui/ws")

	// Publishing far more than the buffer and the sockets hold must not
	// block the engine.
	const events = 2000
	published := make(chan error, 1)
	go func() {
		for i := range events {
			if _, err := e.node.SetActive(context.Background(), i%2 == 0); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SetActive blocked on a slow feed subscriber")
	}

	// The writer sends what it had written or buffered, then closes with
	// 1013 so the page's ws extension reconnects. What arrives is the
	// start of the events, without gaps: the subscription was dropped, not
	// thinned out.
	var got []int
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := conn.ReadMessage()
		if err == nil {
			for _, m := range feedIDs.FindAllStringSubmatch(string(b), -1) {
				seq, _ := strconv.Atoi(strings.TrimPrefix(m[1], "feed-"))
				got = append(got, seq)
			}
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater {
			t.Fatalf("feed ended with %v, want close 1013 (try again later)", err)
		}
		break
	}
	t.Logf("%d of %d events arrived before the close", len(got), events)
	if len(got) == 0 || len(got) >= events/10 {
		t.Errorf("received %d of %d events before the close, want some, and far fewer than were published", len(got), events)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Errorf("feed entries %v skip from %d to %d, want consecutive events up to the drop", got, got[i-1], got[i])
			break
		}
	}
	conn.Close()
}

func TestFeedEndsOnShutdown(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{})
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

// wsConnect is the page's live feed URL (its ws-connect attribute).
var wsConnect = regexp.MustCompile(`ws-connect="([^"]+)"`)

// pageFeed returns a page's feed entry ids, newest first, and its live
// feed URL.
func (e *testEnv) pageFeed(t *testing.T, cookie, path string) (ids []string, feed string) {
	t.Helper()
	resp, body := e.do(t, "GET", path, nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s status = %d, want 200", path, resp.StatusCode)
	}
	m := wsConnect.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET %s has no live feed URL", path)
	}
	for _, id := range feedIDs.FindAllStringSubmatch(body, -1) {
		ids = append(ids, id[1])
	}
	return ids, html.UnescapeString(m[1])
}

// feedIDRange is feed-from .. feed-to, newest first.
func feedIDRange(from, to uint64) []string {
	var out []string
	for s := to; s >= from; s-- {
		out = append(out, "feed-"+strconv.FormatUint(s, 10))
	}
	return out
}

// TestFeedHistoryOnLoad checks that a page shows the node's last events on
// load (each page its own kinds, at most node.EventHistorySize), and that
// its websocket sends the events that happened after the page was rendered
// before it reports "live", so a reload shows history and nothing is
// missed in between.
func TestFeedHistoryOnLoad(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{})
	ctx := t.Context()
	// Events of the node's start (its cluster document) come first; the
	// dashboard shows them too.
	pre := uint64(len(e.node.EventHistory()))
	at := func(n uint64) string { return "feed-" + strconv.FormatUint(pre+n, 10) }
	cookie := e.login(t)
	e.runJob(t, "job-0001-7f3a9c2e", 1.25)
	if _, err := e.node.SetActive(ctx, false); err != nil {
		t.Fatal(err)
	}
	ids, feed := e.pageFeed(t, cookie, "/")
	if diff := cmp.Diff(feedIDRange(1, pre+2), ids); diff != "" {
		t.Errorf("dashboard feed on load (-want +got):\n%s", diff)
	}
	if want := fmt.Sprintf("/ui/ws?after=%d", pre+2); feed != want {
		t.Errorf("dashboard feed URL = %q, want %s", feed, want)
	}
	// The storage page lists only storage events.
	if ids, feed := e.pageFeed(t, cookie, "/storage"); len(ids) != 0 || feed != fmt.Sprintf("/ui/ws?after=%d&view=storage", pre+2) {
		t.Errorf("storage page feed = %v, %q; want no entries and /ui/ws?after=%d&view=storage", ids, feed, pre+2)
	}

	// An event between the page load and the websocket is sent first.
	if _, err := e.node.SetActive(ctx, true); err != nil {
		t.Fatal(err)
	}
	conn := e.dialFeedReplay(t, cookie, feed)
	msg := readMsg(t, conn)
	wantAll(t, "replayed toggle", msg, `id="`+at(3)+`"`, "Switched on", `data-active="true"`)
	wantAll(t, "live badge", readMsg(t, conn), `id="feed-status"`, `data-state="live"`)
	e.runJob(t, "job-0002-7f3a9c2e", 2.5)
	wantAll(t, "live receipt", readUntil(t, conn, `data-kind="receipt"`), `id="`+at(4)+`"`)

	// A reload shows all of it, and the history is bounded: of 105 more
	// events it keeps the newest EventHistorySize.
	if ids, _ := e.pageFeed(t, cookie, "/"); !cmp.Equal(ids, feedIDRange(1, pre+4)) {
		t.Errorf("dashboard feed after reload = %v, want %v", ids, feedIDRange(1, pre+4))
	}
	for i := range 105 {
		if _, err := e.node.SetActive(ctx, i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	ids, feed = e.pageFeed(t, cookie, "/")
	if diff := cmp.Diff(feedIDRange(pre+110-node.EventHistorySize, pre+109), ids); diff != "" {
		t.Errorf("dashboard feed after 109 events (-want +got):\n%s", diff)
	}
	if want := fmt.Sprintf("/ui/ws?after=%d", pre+109); feed != want {
		t.Errorf("dashboard feed URL = %q, want %s", feed, want)
	}
}

// dialFeedReplay opens a page's live feed URL (which replays events
// before its "live" badge) and returns the connection unread.
func (e *testEnv) dialFeedReplay(t *testing.T, cookie, path string) *websocket.Conn {
	t.Helper()
	hdr := http.Header{"Cookie": {cookie}, "Origin": {e.srv.URL}}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+path, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
