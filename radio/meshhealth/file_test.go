package meshhealth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seedMetrics is the manual metrics.json from the seed's v0.3 README.
const seedMetrics = `{"proto":"none","neighbors":[],"routes":[],"health":{"interfaces_up":1,"mesh_ok":true}}`

func TestReadFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Metrics
		wantErr bool
	}{
		{name: "seed v0.3", in: seedMetrics + "\n", want: Metrics{Proto: ProtoNone, FromFile: true, InterfacesUp: 1, MeshOK: true}},
		{name: "batman-adv as written", in: `{"proto":"batman-adv","health":{"interfaces_up":1,"mesh_ok":true}}`,
			want: Metrics{Proto: ProtoBatman, FromFile: true, InterfacesUp: 1, MeshOK: true}},
		{name: "file as written", in: `{"proto":"file","health":{"interfaces_up":0,"mesh_ok":false}}`,
			want: Metrics{Proto: ProtoFile, FromFile: true}},
		{name: "with neighbours and routes", in: `{"proto":"babel","neighbors":[{"address":"fe80::1","iface":"wlan0","metric":96,"reach":65535,"rxcost":96,"txcost":96,"last_seen_ms":250}],
			"routes":[{"destination":"10.0.0.2/32","via":"fe80::1","iface":"wlan0","metric":96}],"health":{"interfaces_up":2,"mesh_ok":false}}`,
			want: Metrics{Proto: ProtoBabel, FromFile: true, InterfacesUp: 2,
				Neighbors: []Neighbor{{Address: "fe80::1", Iface: "wlan0", Metric: 96, Reach: 0xffff, RxCost: 96, TxCost: 96, LastSeen: ms(250)}},
				Routes:    []Route{{Destination: "10.0.0.2/32", Via: "fe80::1", Iface: "wlan0", Metric: 96}}}},
		{name: "unknown field", in: `{"proto":"none","health":{"interfaces_up":1,"mesh_ok":true},"extra":1}`, wantErr: true},
		{name: "unknown proto", in: `{"proto":"olsr","health":{"interfaces_up":1,"mesh_ok":true}}`, wantErr: true},
		{name: "missing proto", in: `{"health":{"interfaces_up":1,"mesh_ok":true}}`, wantErr: true},
		{name: "missing health", in: `{"proto":"none"}`, wantErr: true},
		{name: "missing mesh_ok", in: `{"proto":"none","health":{"interfaces_up":1}}`, wantErr: true},
		{name: "negative interfaces", in: `{"proto":"none","health":{"interfaces_up":-1,"mesh_ok":true}}`, wantErr: true},
		{name: "neighbour without address", in: `{"proto":"none","neighbors":[{}],"health":{"interfaces_up":1,"mesh_ok":true}}`, wantErr: true},
		{name: "trailing data", in: seedMetrics + seedMetrics, wantErr: true},
		{name: "not JSON", in: "proto=none", wantErr: true},
		{name: "too large", in: seedMetrics + strings.Repeat(" ", maxInputBytes), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "metrics.json")
			if err := os.WriteFile(path, []byte(tt.in), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFile(path)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ReadFile(%q) error = %v, want ErrMalformed", truncate(tt.in), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadFile(%q) error = %v", tt.in, err)
			}
			if got.ReadAt.IsZero() {
				t.Errorf("ReadFile(%q).ReadAt is zero", tt.in)
			}
			got.ReadAt = time.Time{}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadFile(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := ReadFile(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ReadFile(missing) error = %v, want ErrNotExist", err)
		}
	})
}
