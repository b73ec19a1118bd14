package meshhealth

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of the helper process that queries babeld from inside a
// network namespace (see TestHelperBabelQuery).
const (
	helperAddrEnv = "OGTEST_BABEL_QUERY_ADDR"
	helperPrefix  = "OGTEST-BABEL-RESULT "
)

type helperResult struct {
	Metrics Metrics
	Err     string
}

// TestHelperBabelQuery is not a test: run by TestBabeldTwoNamespaces as
// `ip netns exec NS <test binary> -test.run=^TestHelperBabelQuery$` with
// OGTEST_BABEL_QUERY_ADDR set, it runs QueryBabel inside the namespace
// (babeld's TCP control socket listens on ::1 of its own namespace) and
// prints the result as one JSON line.
func TestHelperBabelQuery(t *testing.T) {
	addr := os.Getenv(helperAddrEnv)
	if addr == "" {
		return // a normal run: nothing to do
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	m, err := QueryBabel(ctx, addr)
	r := helperResult{Metrics: m}
	if err != nil {
		r.Err = err.Error()
	}
	b, _ := json.Marshal(r)
	fmt.Printf("\n%s%s\n", helperPrefix, b)
}

// babelNode is one babeld in its own network namespace.
type babelNode struct {
	ns, iface, addr4, dir string
	control               string // "[::1]:PORT" inside ns, or a UNIX socket path
}

// query reads babeld's state: a UNIX socket directly (the path is the same
// from every namespace), a TCP port by re-running this test binary inside
// the namespace.
func (n babelNode) query(t *testing.T, ctx context.Context) (Metrics, error) {
	t.Helper()
	if strings.HasPrefix(n.control, "/") {
		return QueryBabel(ctx, n.control)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.ns, exe, "-test.run=^TestHelperBabelQuery$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperAddrEnv+"="+n.control)
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return Metrics{}, fmt.Errorf("helper in %s: %w", n.ns, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), helperPrefix); ok {
			var r helperResult
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return Metrics{}, err
			}
			if r.Err != "" {
				return r.Metrics, errors.New(r.Err)
			}
			return r.Metrics, nil
		}
	}
	return Metrics{}, fmt.Errorf("helper in %s printed no result: %q", n.ns, out)
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// waitFor polls check every 250 ms until it returns true or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, check func(ctx context.Context) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		if check(ctx) {
			t.Logf("%s after %v", what, time.Since(start).Round(10*time.Millisecond))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s within %v", what, timeout)
		case <-tick.C:
		}
	}
}

// TestBabeldTwoNamespaces runs two real babeld daemons in two network
// namespaces joined by a veth pair, reads them with QueryBabel until each
// sees the other as a neighbour with a route to its address, then takes
// the link down and waits until the neighbour is gone (or its reach is 0).
// It needs root, ip and babeld (Debian's babeld 1.12.1); all traffic stays
// inside the two namespaces, which are deleted at the end.
func TestBabeldTwoNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "babeld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH (make deps installs babeld): %v", tool, err)
		}
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	sfx := hex.EncodeToString(suffix)
	dir := t.TempDir()
	a := babelNode{ns: "ogtest-a-" + sfx, iface: "oga" + sfx, addr4: "192.0.2.1", dir: filepath.Join(dir, "a"),
		control: "[::1]:33123"}
	b := babelNode{ns: "ogtest-b-" + sfx, iface: "ogb" + sfx, addr4: "192.0.2.2", dir: filepath.Join(dir, "b")}
	b.control = filepath.Join(b.dir, "control.sock")

	t.Cleanup(func() {
		for _, n := range []babelNode{a, b} {
			stopBabeld(t, n)
			if out, err := exec.Command("ip", "netns", "del", n.ns).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "No such file") {
				t.Errorf("ip netns del %s: %v: %s", n.ns, err, out)
			}
			if t.Failed() {
				if log, err := os.ReadFile(filepath.Join(n.dir, "babeld.log")); err == nil {
					t.Logf("babeld log of %s:\n%s", n.ns, log)
				}
			}
		}
	})
	run(t, "ip", "netns", "add", a.ns)
	run(t, "ip", "netns", "add", b.ns)
	run(t, "ip", "link", "add", a.iface, "netns", a.ns, "type", "veth", "peer", "name", b.iface, "netns", b.ns)
	for _, n := range []babelNode{a, b} {
		if err := os.MkdirAll(n.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// No duplicate address detection: link-local addresses at once.
		run(t, "ip", "netns", "exec", n.ns, "sysctl", "-qw", "net.ipv6.conf."+n.iface+".accept_dad=0")
		run(t, "ip", "-n", n.ns, "addr", "add", n.addr4+"/24", "dev", n.iface)
		run(t, "ip", "-n", n.ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", n.ns, "link", "set", n.iface, "up")
	}
	for _, n := range []babelNode{a, b} {
		port := strings.TrimPrefix(n.control, "[::1]:")
		// -c /dev/null: not the host's /etc/babeld.conf. Hellos every
		// 0.5 s (default 4 s) keep the test short.
		run(t, "ip", "netns", "exec", n.ns, "babeld", "-D", "-c", "/dev/null", "-h", "0.5", "-H", "0.5",
			"-I", filepath.Join(n.dir, "babeld.pid"), "-S", filepath.Join(n.dir, "babeld.state"),
			"-G", port, "-L", filepath.Join(n.dir, "babeld.log"), n.iface)
	}

	// Up: each side has a reachable neighbour and an installed route to
	// the other's address through it.
	for _, pair := range [][2]babelNode{{a, b}, {b, a}} {
		self, other := pair[0], pair[1]
		var last Metrics
		waitFor(t, 25*time.Second, self.ns+" neighbour and route to "+other.addr4, func(ctx context.Context) bool {
			m, err := self.query(t, ctx)
			if err != nil {
				t.Logf("query %s: %v", self.ns, err)
				return false
			}
			last = m
			return hasRouteVia(m, other.addr4+"/32") && m.MeshOK
		})
		t.Logf("%s (control %s): %+v", self.ns, self.control, last)
		if last.Proto != ProtoBabel || last.InterfacesUp != 1 || len(last.Neighbors) != 1 || last.Neighbors[0].Iface != self.iface {
			t.Errorf("%s: QueryBabel = %+v, want babel, 1 interface up, 1 neighbour on %s", self.ns, last, self.iface)
		}
	}

	// Down: b loses its neighbour; a sees its interface down.
	run(t, "ip", "-n", a.ns, "link", "set", a.iface, "down")
	var lastB Metrics
	waitFor(t, 20*time.Second, b.ns+" neighbour gone or reach 0", func(ctx context.Context) bool {
		m, err := b.query(t, ctx)
		if err != nil {
			t.Logf("query %s: %v", b.ns, err)
			return false
		}
		lastB = m
		return len(m.Neighbors) == 0 || m.Neighbors[0].Reach == 0
	})
	t.Logf("%s after link down: %+v", b.ns, lastB)
	if lastB.MeshOK {
		t.Errorf("%s: MeshOK = true after link down", b.ns)
	}
	m, err := a.query(t, t.Context())
	if err != nil {
		t.Fatalf("query %s: %v", a.ns, err)
	}
	t.Logf("%s after link down: %+v", a.ns, m)
	if m.InterfacesUp != 0 || m.MeshOK {
		t.Errorf("%s after link down: InterfacesUp = %d, MeshOK = %v, want 0, false", a.ns, m.InterfacesUp, m.MeshOK)
	}
}

func hasRouteVia(m Metrics, dest string) bool {
	for _, r := range m.Routes {
		if r.Destination == dest && r.Metric < BabelInfinity {
			for _, n := range m.Neighbors {
				if n.Address == r.Via && n.Iface == r.Iface && n.Reach != 0 {
					return true
				}
			}
		}
	}
	return false
}

// stopBabeld ends n's babeld: by its PID file, and any process still in
// the namespace (a babeld that had not yet written its PID file), then
// waits up to 5 s for them to exit.
func stopBabeld(t *testing.T, n babelNode) {
	t.Helper()
	var pids []int
	if b, err := os.ReadFile(filepath.Join(n.dir, "babeld.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	if out, err := exec.Command("ip", "netns", "pids", n.ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				pids = append(pids, pid)
			}
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Errorf("babeld %d in %s did not exit; sending SIGKILL", pid, n.ns)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			<-tick.C
		}
	}
}
