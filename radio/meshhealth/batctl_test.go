package meshhealth

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	macA = "02:ba:de:af:fe:02"
	macB = "02:ba:de:af:fe:03"
	macC = "02:ba:de:af:fe:04"
	macD = "02:ba:de:af:fe:05"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "batctl", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	wantIVNeighbors = []Neighbor{
		{Address: macA, Iface: "wlan0", LastSeen: ms(380)},
		{Address: macB, Iface: "wlan0", LastSeen: ms(12410)},
	}
	wantIVRoutes = []Route{
		{Destination: macA, Via: macA, Iface: "wlan0", Metric: 251},
		{Destination: macB, Via: macA, Iface: "wlan0", Metric: 198},
		{Destination: macC, Via: macA, Iface: "wlan0", Metric: 180},
	}
	wantVNeighbors = []Neighbor{
		{Address: macA, Iface: "wlan0", Metric: 54, LastSeen: ms(120)},
		{Address: macD, Iface: "mesh-long0", Metric: 0, LastSeen: ms(640)},
	}
	wantVRoutes = []Route{
		{Destination: macA, Via: macA, Iface: "wlan0", Metric: 54},
		{Destination: macC, Via: macA, Iface: "wlan0", Metric: 27.5},
	}
)

func TestParseBatctlNeighbors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    []Neighbor
		wantErr bool
	}{
		{name: "batctl 2023.0 BATMAN IV", in: readFixture(t, "iv-neighbors.txt"), want: wantIVNeighbors},
		{name: "batctl 2023.0 BATMAN V", in: readFixture(t, "v-neighbors.txt"), want: wantVNeighbors},
		{name: "no header (-H)", in: []byte("  wlan0\t  " + macA + "    0.380s\n"), want: wantIVNeighbors[:1]},
		{name: "header only", in: []byte("[B.A.T.M.A.N. adv 2023.0, MainIF/MAC: wlan0/02:ba:de:af:fe:01 (bat0/5e:2a:9c:11:22:33 BATMAN_IV)]\nIF             Neighbor              last-seen\n"), want: nil},
		{name: "empty", in: nil, want: nil},
		{name: "bat-hosts name, unresolved ifindex", in: []byte("IF             Neighbor              last-seen\n           \t  node-7    1.005s\n"),
			want: []Neighbor{{Address: "node-7", LastSeen: ms(1005)}}},
		{name: "garbage", in: []byte("}}} this is not batctl {{{\n"), wantErr: true},
		{name: "bad last-seen", in: []byte("wlan0 " + macA + " 0.38s\n"), wantErr: true},
		{name: "error message on stdout", in: []byte("Error - interface bat0 is not present or not a batman-adv interface\n"), wantErr: true},
		{name: "V row with broken throughput", in: []byte(macA + "    0.120s (54) [ wlan0]\n"), wantErr: true},
		{name: "too large", in: []byte(strings.Repeat("x", maxInputBytes+1)), wantErr: true},
		{name: "too many rows", in: []byte(strings.Repeat("wlan0 "+macA+" 0.380s\n", maxEntries+1)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBatctlNeighbors(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseBatctlNeighbors(%q) error = %v, want ErrMalformed", truncate(string(tt.in)), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBatctlNeighbors(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseBatctlNeighbors(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseBatctlOriginators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    []Route
		wantErr bool
	}{
		{name: "batctl 2023.0 BATMAN IV", in: readFixture(t, "iv-originators.txt"), want: wantIVRoutes},
		{name: "batctl 2023.0 BATMAN V", in: readFixture(t, "v-originators.txt"), want: wantVRoutes},
		{name: "old format with potential nexthops", in: []byte(
			"  Originator      last-seen (#/255)           Nexthop [outgoingIF]:   Potential nexthops ...\n" +
				" * fe:fe:00:00:08:01    0.820s   (194) fe:fe:00:00:02:01 [      eth0]: fe:fe:00:00:03:01 ( 65) fe:fe:00:00:02:01 (194)\n"),
			want: []Route{{Destination: "fe:fe:00:00:08:01", Via: "fe:fe:00:00:02:01", Iface: "eth0", Metric: 194}}},
		{name: "no best entry", in: []byte("   " + macA + "    0.380s   (251) " + macA + " [     wlan0]\n"), want: nil},
		{name: "TQ above 255", in: []byte(" * " + macA + "    0.380s   (256) " + macA + " [     wlan0]\n"), wantErr: true},
		{name: "missing interface", in: []byte(" * " + macA + "    0.380s   (251) " + macA + "\n"), wantErr: true},
		{name: "garbage", in: []byte("hello\nworld\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBatctlOriginators(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseBatctlOriginators(%q) error = %v, want ErrMalformed", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBatctlOriginators(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseBatctlOriginators(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseBatctlNeighborsJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []Neighbor
		wantErr bool
	}{
		{name: "batctl 2023.0 BATMAN IV", in: string(readFixture(t, "iv-neighbors.json")), want: wantIVNeighbors},
		{name: "batctl 2023.0 BATMAN V", in: string(readFixture(t, "v-neighbors.json")), want: wantVNeighbors},
		{name: "empty array", in: "[]", want: []Neighbor{}},
		{name: "unknown field ignored", in: `[{"hard_ifname":"wlan0","neigh_address":"` + macA + `","last_seen_msecs":5,"new_attr":[1,2]}]`,
			want: []Neighbor{{Address: macA, Iface: "wlan0", LastSeen: ms(5)}}},
		{name: "only hard_ifindex (batman-adv < 2021.2)", in: `[{"hard_ifindex":3,"neigh_address":"` + macA + `","last_seen_msecs":5}]`,
			want: []Neighbor{{Address: macA, LastSeen: ms(5)}}},
		{name: "missing neigh_address", in: `[{"hard_ifname":"wlan0","last_seen_msecs":5}]`, wantErr: true},
		{name: "missing last_seen_msecs", in: `[{"hard_ifname":"wlan0","neigh_address":"` + macA + `"}]`, wantErr: true},
		{name: "negative last_seen", in: `[{"hard_ifname":"wlan0","neigh_address":"` + macA + `","last_seen_msecs":-1}]`, wantErr: true},
		{name: "object not array", in: `{"neigh_address":"x"}`, wantErr: true},
		{name: "trailing data", in: `[] []`, wantErr: true},
		{name: "truncated", in: `[{"hard_ifname":"wlan0"`, wantErr: true},
		{name: "garbage", in: "}}} this is not batctl {{{", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBatctlNeighborsJSON([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseBatctlNeighborsJSON(%q) error = %v, want ErrMalformed", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBatctlNeighborsJSON(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseBatctlNeighborsJSON(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseBatctlOriginatorsJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []Route
		wantErr bool
	}{
		{name: "batctl 2023.0 BATMAN IV", in: string(readFixture(t, "iv-originators.json")), want: wantIVRoutes},
		{name: "batctl 2023.0 BATMAN V", in: string(readFixture(t, "v-originators.json")), want: wantVRoutes},
		{name: "tq above 255", in: `[{"hard_ifname":"w","orig_address":"a","neigh_address":"b","last_seen_msecs":1,"tq":256,"best":true}]`, wantErr: true},
		{name: "no metric", in: `[{"hard_ifname":"w","orig_address":"a","neigh_address":"b","last_seen_msecs":1,"best":true}]`, wantErr: true},
		{name: "missing orig_address", in: `[{"hard_ifname":"w","neigh_address":"b","last_seen_msecs":1,"tq":3}]`, wantErr: true},
		{name: "best is not a bool", in: `[{"hard_ifname":"w","orig_address":"a","neigh_address":"b","last_seen_msecs":1,"tq":3,"best":"yes"}]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBatctlOriginatorsJSON([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseBatctlOriginatorsJSON(%q) error = %v, want ErrMalformed", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBatctlOriginatorsJSON(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseBatctlOriginatorsJSON(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// withFakeBatctl puts testdata/batctl first on PATH and selects the fake's
// mode; it returns the file the fake logs its arguments to.
func withFakeBatctl(t *testing.T, mode string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "batctl"))
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "calls")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_BATCTL_MODE", mode)
	t.Setenv("FAKE_BATCTL_LOG", log)
	return log
}

func calls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// Not parallel: these tests set PATH.
func TestBatctlRead(t *testing.T) {
	ivNeighbors := []Neighbor{
		{Address: macA, Iface: "wlan0", Metric: 251, LastSeen: ms(380)},
		{Address: macB, Iface: "wlan0", Metric: 40, LastSeen: ms(12410)},
	}
	tests := []struct {
		mode      string
		want      Metrics
		wantCalls []string
	}{
		{
			mode:      "iv",
			want:      Metrics{Proto: ProtoBatman, Neighbors: ivNeighbors, Routes: wantIVRoutes, InterfacesUp: 1, MeshOK: true},
			wantCalls: []string{"meshif bat0 interface", "meshif bat0 neighbors_json", "meshif bat0 originators_json"},
		},
		{
			mode:      "v",
			want:      Metrics{Proto: ProtoBatman, Neighbors: wantVNeighbors, Routes: wantVRoutes, InterfacesUp: 1, MeshOK: true},
			wantCalls: []string{"meshif bat0 interface", "meshif bat0 neighbors_json", "meshif bat0 originators_json"},
		},
		{
			mode: "textonly",
			want: Metrics{Proto: ProtoBatman, Neighbors: ivNeighbors, Routes: wantIVRoutes, InterfacesUp: 1, MeshOK: true},
			wantCalls: []string{"meshif bat0 interface", "meshif bat0 neighbors_json",
				"meshif bat0 neighbors -n", "meshif bat0 originators -n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			log := withFakeBatctl(t, tt.mode)
			got, err := Batctl{}.Read(t.Context())
			if err != nil {
				t.Fatalf("Batctl.Read() error = %v", err)
			}
			if got.ReadAt.IsZero() {
				t.Errorf("Batctl.Read().ReadAt is zero")
			}
			got.ReadAt = time.Time{}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Batctl.Read() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCalls, calls(t, log)); diff != "" {
				t.Errorf("batctl calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBatctlReadErrors(t *testing.T) {
	tests := []struct {
		mode    string
		batctl  Batctl
		wantErr error
		wantMsg string
	}{
		{mode: "notloaded", wantErr: ErrModuleNotLoaded, wantMsg: "Error - batman-adv module has not been loaded"},
		{mode: "noiface", batctl: Batctl{Iface: "mesh7"}, wantErr: ErrNoMeshInterface, wantMsg: "interface mesh7 is not present"},
		{mode: "garbage", wantErr: ErrMalformed},
		{mode: "huge", wantErr: ErrMalformed, wantMsg: "output longer than"},
		{mode: "hang", batctl: Batctl{Timeout: 300 * time.Millisecond}, wantErr: context.DeadlineExceeded},
		{mode: "iv", batctl: Batctl{Path: "batctl-not-installed"}, wantErr: ErrBatctlNotFound},
		{mode: "iv", batctl: Batctl{Path: "/nonexistent/batctl"}, wantErr: ErrBatctlNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.mode+tt.batctl.Path, func(t *testing.T) {
			withFakeBatctl(t, tt.mode)
			start := time.Now()
			_, err := tt.batctl.Read(t.Context())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Batctl%+v.Read() error = %v, want %v", tt.batctl, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Batctl%+v.Read() error = %q, want it to contain %q", tt.batctl, err, tt.wantMsg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Batctl%+v.Read() took %v", tt.batctl, d)
			}
		})
	}
}

// TestRealBatctl runs Debian's batctl when it is installed. On a machine
// without the batman-adv module it must give a clear error.
func TestRealBatctl(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("/usr/sbin/batctl")
	if err != nil {
		t.Skip("batctl is not installed (apt-get install batctl)")
	}
	m, err := Batctl{Path: path}.Read(t.Context())
	switch {
	case err == nil:
		t.Logf("batman-adv is running here: %+v", m)
	case errors.Is(err, ErrModuleNotLoaded), errors.Is(err, ErrNoMeshInterface):
		t.Logf("real batctl: %v", err)
	default:
		t.Errorf("Batctl.Read() with the real batctl: error = %v, want ErrModuleNotLoaded or ErrNoMeshInterface", err)
	}
}
