package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the demo's writer goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePortRun finds n consecutive free loopback ports.
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	for base := 20000 + int(time.Now().UnixNano()%20000); base < 60000; base += n {
		ok := true
		for i := range n {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func TestDemoMesh(t *testing.T) {
	dir := t.TempDir()
	base := freePortRun(t, 3)
	start := func() (stop func() string, out *syncBuffer) {
		out = &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"demo", "--nodes", "3", "--base-port", fmt.Sprint(base), "--data", dir},
				func(string) string { return "" }, out, out)
		}()
		return func() string {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("demo returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("demo did not stop within 30s of cancel")
			}
			return out.String()
		}, out
	}

	stop, out := start()
	peersUp := func() int {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/peers", base))
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var pl struct{ Peers []struct{ State string } }
		if json.NewDecoder(resp.Body).Decode(&pl) != nil {
			return -1
		}
		up := 0
		for _, p := range pl.Peers {
			if p.State == "up" {
				up++
			}
		}
		return up
	}
	deadline := time.Now().Add(20 * time.Second)
	for peersUp() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("node-1 did not see its 2 peers up within 20s; output:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	first := stop()
	token := regexp.MustCompile(`node-1's admin token: (\S+)\)`).FindStringSubmatch(first)
	if token == nil {
		t.Fatalf("demo output has no dashboard line with a token:\n%s", first)
	}

	stop, _ = start()
	deadline = time.Now().Add(20 * time.Second)
	for peersUp() != 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	second := stop()
	again := regexp.MustCompile(`node-1's admin token: (\S+)\)`).FindStringSubmatch(second)
	if again == nil || again[1] != token[1] {
		t.Errorf("second run's token = %v, want the first run's %s (data must be reused)", again, token[1])
	}
}
