package meshhealth

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/internal/testutil"
)

const (
	llA = "fe80::44f6:d3ff:febf:7071"
	llB = "fe80::1495:91ff:fe0e:e065"
)

func babelFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "babel", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var wantBabelUp = Metrics{
	Proto:        ProtoBabel,
	Neighbors:    []Neighbor{{Address: llA, Iface: "vB", Metric: 96, Reach: 0xf800, RxCost: 96, TxCost: 96}},
	Routes:       []Route{{Destination: "10.213.0.1/32", Via: llA, Iface: "vB", Metric: 96}},
	InterfacesUp: 1,
	MeshOK:       true,
}

func TestParseBabelDump(t *testing.T) {
	t.Parallel()
	body := strings.SplitN(babelFixture(t, "dump-1.12.1.txt"), "ok\n", 2)[1]
	neigh := "add neighbour 1 address " + llA + " if vB reach ffff ureach 0000 rxcost 96 txcost 96 cost 96\n"
	tests := []struct {
		name    string
		in      string
		want    Metrics
		wantErr error
	}{
		{name: "babeld 1.12.1 with banner", in: babelFixture(t, "dump-1.12.1.txt"), want: wantBabelUp},
		{name: "without banner", in: body, want: wantBabelUp},
		{name: "without final ok", in: strings.TrimSuffix(body, "ok\n"), want: wantBabelUp},
		{name: "CRLF", in: strings.ReplaceAll(body, "\n", "\r\n"), want: wantBabelUp},
		{name: "link down 1.12.1", in: babelFixture(t, "dump-link-down-1.12.1.txt"), want: Metrics{
			Proto:     ProtoBabel,
			Neighbors: []Neighbor{{Address: llB, Iface: "vA", Metric: 65535, Reach: 0xffc0, RxCost: 96, TxCost: 96}},
		}},
		{name: "just ok", in: "ok\n", want: Metrics{Proto: ProtoBabel}},
		{name: "rtt fields and unknown fields", in: "add interface eth0 up true\n" +
			"add neighbour 1 address " + llA + " if eth0 reach 8000 ureach 0000 rxcost 256 txcost 300 rtt 12.500 rttcost 40 cost 340 newfield x\nok\n",
			want: Metrics{Proto: ProtoBabel, InterfacesUp: 1, MeshOK: true,
				Neighbors: []Neighbor{{Address: llA, Iface: "eth0", Metric: 340, Reach: 0x8000, RxCost: 256, TxCost: 300}}}},
		{name: "unknown kind ignored", in: "add interface eth0 up true\nadd filter 7 foo bar\n" + neigh,
			want: Metrics{Proto: ProtoBabel, InterfacesUp: 1, MeshOK: true,
				Neighbors: []Neighbor{{Address: llA, Iface: "vB", Metric: 96, Reach: 0xffff, RxCost: 96, TxCost: 96}}}},
		{name: "change replaces, flush removes", in: "add interface eth0 up true\n" + neigh +
			"change neighbour 1 address " + llA + " if vB reach 0000 ureach 0000 rxcost 65535 txcost 96 cost 65535\n" +
			"add route 9 prefix 10.0.0.9/32 from 0.0.0.0/0 installed yes id x metric 96 refmetric 0 via " + llA + " if vB\n" +
			"flush route 9 prefix 10.0.0.9/32 from 0.0.0.0/0 installed yes id x metric 96 refmetric 0 via " + llA + " if vB\n" +
			"flush neighbour 404\n",
			want: Metrics{Proto: ProtoBabel, InterfacesUp: 1,
				Neighbors: []Neighbor{{Address: llA, Iface: "vB", Metric: 65535, Reach: 0, RxCost: 65535, TxCost: 96}}}},
		{name: "uninstalled route skipped", in: "add route 9 prefix 10.0.0.9/32 from 0.0.0.0/0 installed no id x metric 200 refmetric 0 via " + llA + " if vB\n",
			want: Metrics{Proto: ProtoBabel}},
		{name: "empty", in: "", wantErr: ErrMalformed},
		{name: "garbage", in: "HTTP/1.1 200 OK\r\n\r\n", wantErr: ErrMalformed},
		{name: "garbage after data", in: neigh + "hello world\n", wantErr: ErrMalformed},
		{name: "refused", in: "BABEL 1.0\nok\nbad\n", wantErr: ErrBabelRefused},
		{name: "no", in: "no\n", wantErr: ErrBabelRefused},
		{name: "unsupported protocol", in: "BABEL 2.0\nok\n", wantErr: ErrMalformed},
		{name: "banner without ok", in: "BABEL 1.0\nversion babeld-1.12.1\n", wantErr: ErrMalformed},
		{name: "odd fields", in: "add neighbour 1 address " + llA + " if\n", wantErr: ErrMalformed},
		{name: "verb only", in: "add neighbour\n", wantErr: ErrMalformed},
		{name: "bad reach", in: strings.Replace(neigh, "reach ffff", "reach fffff", 1), wantErr: ErrMalformed},
		{name: "bad cost", in: strings.Replace(neigh, "cost 96\n", "cost -1\n", 1), wantErr: ErrMalformed},
		{name: "neighbour without address", in: "add neighbour 1 if vB reach ffff rxcost 1 txcost 1 cost 1\n", wantErr: ErrMalformed},
		{name: "route without via", in: "add route 9 prefix 10.0.0.9/32 installed yes metric 1 if vB\n", wantErr: ErrMalformed},
		{name: "interface up maybe", in: "add interface eth0 up maybe\n", wantErr: ErrMalformed},
		{name: "line too long", in: "add interface eth0 up true x " + strings.Repeat("y", maxLineBytes) + "\n", wantErr: ErrMalformed},
		{name: "too many lines", in: strings.Repeat("add interface eth0 up true\n", maxBabelLines+1), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBabelDump(strings.NewReader(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseBabelDump(%q) error = %v, want %v", truncate(tt.in), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBabelDump(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseBabelDump(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// fakeBabeld serves one scripted control session per connection on
// loopback: it writes banner, waits for a request line, then writes reply.
// Its goroutines end when the test ends.
func fakeBabeld(t *testing.T, network, banner, reply string) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "babel.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	// conns are closed at the end of the test; guarded by mu.
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				if _, err := c.Write([]byte(banner)); err != nil {
					return
				}
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil || line != "dump\n" {
					return
				}
				if _, err := c.Write([]byte(reply)); err != nil {
					return
				}
				_, _ = c.Read(make([]byte, 64)) // "quit" or close
			})
		}
	})
	return ln.Addr().String()
}

func TestQueryBabel(t *testing.T) {
	testutil.CheckGoroutines(t)
	full := babelFixture(t, "dump-1.12.1.txt")
	banner, reply, _ := strings.Cut(full, "ok\n")
	banner += "ok\n"

	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := fakeBabeld(t, network, banner, reply)
			got, err := QueryBabel(t.Context(), addr)
			if err != nil {
				t.Fatalf("QueryBabel(%s) error = %v", addr, err)
			}
			if got.ReadAt.IsZero() {
				t.Errorf("QueryBabel(%s).ReadAt is zero", addr)
			}
			got.ReadAt = time.Time{}
			if diff := cmp.Diff(wantBabelUp, got); diff != "" {
				t.Errorf("QueryBabel(%s) mismatch (-want +got):\n%s", addr, diff)
			}
		})
	}
	t.Run("not babel", func(t *testing.T) {
		addr := fakeBabeld(t, "tcp", "SSH-2.0-OpenSSH_9.2\r\n", "")
		if _, err := QueryBabel(t.Context(), addr); !errors.Is(err, ErrNotBabel) {
			t.Errorf("QueryBabel(ssh) error = %v, want ErrNotBabel", err)
		}
	})
	t.Run("reply without ok", func(t *testing.T) {
		addr := fakeBabeld(t, "tcp", banner, "add interface eth0 up true\n")
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		if _, err := QueryBabel(ctx, addr); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("QueryBabel(no ok) error = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("silent server, cancelled", func(t *testing.T) {
		addr := fakeBabeld(t, "tcp", "", "")
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		if _, err := QueryBabel(ctx, addr); !errors.Is(err, context.Canceled) {
			t.Errorf("QueryBabel(silent) error = %v, want Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("QueryBabel(silent) returned after %v, want soon after cancel", d)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		if _, err := QueryBabel(t.Context(), filepath.Join(t.TempDir(), "none.sock")); err == nil {
			t.Errorf("QueryBabel(no socket) error = nil")
		}
	})
}
