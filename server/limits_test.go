package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// rawRequest is an HTTP/1.1 request written by hand on a raw connection,
// so that a test controls every byte the server gets and when.
type rawRequest struct {
	method, path string
	header       map[string]string
}

// dial opens a connection to tn and writes req's head.
func dial(t testing.TB, tn *servertest.Node, req rawRequest) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", tn.HTTP.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial %s: %v", tn.URL, err)
	}
	t.Cleanup(func() { conn.Close() })
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n",
		req.method, req.path, tn.HTTP.Listener.Addr(), servertest.AdminToken)
	for k, v := range req.header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		t.Fatalf("write request head: %v", err)
	}
	return conn
}

// readStatus reads the response on conn within waitTimeout and returns its
// status and body.
func readStatus(t testing.TB, conn net.Conn) (int, string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// requestsAnswered returns how many requests on the shard routes the
// server answered with code, from its own metrics.
func requestsAnswered(t testing.TB, tn *servertest.Node, code int) int {
	t.Helper()
	mfs, err := tn.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "offgrid_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == fmt.Sprint(code) {
					n += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return n
}

// waitAnswered waits until the server has answered want requests with code.
func waitAnswered(t testing.TB, tn *servertest.Node, code, want int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for requestsAnswered(t, tn, code) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests answered %d after %v, want %d", requestsAnswered(t, tn, code), code, waitTimeout, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowBodiesLoseTheirSlots holds every upload slot with senders that
// trickle one byte every 50 ms, far below the minimum rate, and checks that
// each is answered 408 within its deadline, that nothing of them is stored,
// and that a normal upload then succeeds.
func TestSlowBodiesLoseTheirSlots(t *testing.T) {
	testutil.CheckGoroutines(t)
	const (
		limit = 4
		grace = 300 * time.Millisecond
		rate  = 1024
		// slack covers scheduling on a loaded machine.
		slack = 2 * time.Second
	)
	starts := make(uploadStarts, 2*limit)
	tn := servertest.Start(t, servertest.Options{StoreConcurrency: limit, BodyGrace: grace, BodyMinRate: rate, Wrap: starts.wrap})
	before := blobFiles(t, tn)

	type answer struct {
		status int
		after  time.Duration
	}
	answers := make(chan answer, limit)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	begin := time.Now()
	for i := range limit {
		conn := dial(t, tn, rawRequest{method: "PUT", path: fmt.Sprintf("/shards/slow/%d", i), header: map[string]string{
			"Content-Type": "application/octet-stream", "Content-Length": "1000"}})
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				if _, err := conn.Write([]byte{'x'}); err != nil {
					return
				}
				select {
				case <-tick.C:
				case <-stop:
					return
				}
			}
		})
		wg.Go(func() {
			conn.SetReadDeadline(time.Now().Add(waitTimeout))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				answers <- answer{status: -1, after: time.Since(begin)}
				return
			}
			resp.Body.Close()
			answers <- answer{status: resp.StatusCode, after: time.Since(begin)}
		})
	}
	for range limit {
		select {
		case <-starts:
		case <-time.After(waitTimeout):
			t.Fatalf("the %d slow uploads did not all start within %v", limit, waitTimeout)
		}
	}
	checkProblem(t, "upload while the slow ones hold every slot", putShard(t, tn, "/shards/extra/0", []byte("no slot"), ""), http.StatusServiceUnavailable)

	for range limit {
		a := <-answers
		if a.status != http.StatusRequestTimeout {
			t.Errorf("slow upload answered %d after %v, want 408", a.status, a.after)
		}
		if a.after > grace+slack {
			t.Errorf("slow upload answered after %v, want within %v of its %v grace", a.after, slack, grace)
		}
	}
	data := randomBytes(t, 256<<10)
	if r := putShard(t, tn, "/shards/normal/0", data, hashOf(data)); r.StatusCode != http.StatusCreated {
		t.Errorf("normal upload after the slow ones = %d, want 201: %s", r.StatusCode, r.body)
	}
	for i := range limit {
		checkProblem(t, "GET of a slow upload", call(t, tn, "GET", fmt.Sprintf("/shards/slow/%d", i), nil, true), http.StatusNotFound)
	}
	after := blobFiles(t, tn)
	if len(after) != len(before)+1 {
		t.Errorf("shard files after the slow uploads and one normal = %v, want only the normal one's blob besides %v", after, before)
	}
}

// TestOversizeContentLengthRefusedAtOnce declares bodies over the limits
// and sends none of them: the answer is 413 at once, not after the body.
func TestOversizeContentLengthRefusedAtOnce(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	tests := []struct {
		name, method, path string
		length             int64
	}{
		{"PUT /shards of 17 MB", "PUT", "/shards/big/0", 17 << 20},
		{"POST /store of 23 MB", "POST", "/store", 23 << 20},
		{"POST /run of 2 MiB", "POST", "/run", 2 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, tn, rawRequest{method: tt.method, path: tt.path, header: map[string]string{
				"Content-Type": "application/octet-stream", "Content-Length": fmt.Sprint(tt.length)}})
			if status, body := readStatus(t, conn); status != http.StatusRequestEntityTooLarge {
				t.Errorf("%s %s with Content-Length %d and no body = %d %s, want 413", tt.method, tt.path, tt.length, status, body)
			}
		})
	}
	if files := blobFiles(t, tn); len(files) != 0 {
		t.Errorf("shard files after refused uploads: %v, want none", files)
	}
}

// TestBadBodiesLeaveNothing sends short, malformed and cut-off bodies and
// checks that each is a 400 (or, cut off, no answer at all) and that the
// store keeps no row, blob or temp file of them.
func TestBadBodiesLeaveNothing(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	octet := map[string]string{"Content-Type": "application/octet-stream", "Content-Length": "1000"}
	chunked := map[string]string{"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"}
	jsonShort := map[string]string{"Content-Type": "application/json", "Content-Length": "1000"}
	tests := []struct {
		name string
		req  rawRequest
		body string
		// cut closes the connection after the body instead of half-closing
		// it and reading the answer.
		cut bool
	}{
		{"short PUT /shards", rawRequest{"PUT", "/shards/bad/0", octet}, strings.Repeat("x", 500), false},
		{"malformed chunked PUT /shards", rawRequest{"PUT", "/shards/bad/1", chunked}, "5\r\nhello\r\nzz\r\nabc\r\n", false},
		{"short POST /store", rawRequest{"POST", "/store", jsonShort}, `{"asset_id":"bad","index":2,"data_b64":"`, false},
		{"cut-off PUT /shards", rawRequest{"PUT", "/shards/bad/3", octet}, strings.Repeat("x", 600), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := requestsAnswered(t, tn, http.StatusBadRequest)
			conn := dial(t, tn, tt.req)
			if _, err := io.WriteString(conn, tt.body); err != nil {
				t.Fatalf("write body: %v", err)
			}
			if tt.cut {
				conn.Close()
			} else {
				conn.(*net.TCPConn).CloseWrite()
				if status, body := readStatus(t, conn); status != http.StatusBadRequest {
					t.Errorf("%s %s = %d %s, want 400", tt.req.method, tt.req.path, status, body)
				}
			}
			// The handler has finished once its answer is counted.
			waitAnswered(t, tn, http.StatusBadRequest, seen+1)
		})
	}
	for i := range 4 {
		checkProblem(t, "GET of a bad upload", call(t, tn, "GET", fmt.Sprintf("/shards/bad/%d", i), nil, true), http.StatusNotFound)
	}
	if files := blobFiles(t, tn); len(files) != 0 {
		t.Errorf("shard files after bad uploads: %v, want none", files)
	}
}
