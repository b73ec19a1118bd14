package meshhealth

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/offgrid-net/offgrid/internal/canon"
)

// File is a Source that reads the manual metrics file with ReadFile.
type File struct {
	// Path is the metrics file, e.g. "mesh/metrics.json".
	Path string
}

var _ Source = File{}

// Read calls ReadFile(f.Path); it does not block long enough to need ctx.
func (f File) Read(ctx context.Context) (Metrics, error) {
	if err := ctx.Err(); err != nil {
		return Metrics{}, err
	}
	return ReadFile(f.Path)
}

// fileMetrics is the seed's manual mesh/metrics.json (v0.3).
type fileMetrics struct {
	Proto     *string        `json:"proto"`
	Neighbors []fileNeighbor `json:"neighbors"`
	Routes    []fileRoute    `json:"routes"`
	Health    *struct {
		InterfacesUp *int  `json:"interfaces_up"`
		MeshOK       *bool `json:"mesh_ok"`
	} `json:"health"`
}

type fileNeighbor struct {
	Address    string  `json:"address"`
	Iface      string  `json:"iface"`
	Metric     float64 `json:"metric"`
	Reach      uint16  `json:"reach"`
	RxCost     int     `json:"rxcost"`
	TxCost     int     `json:"txcost"`
	LastSeenMS int64   `json:"last_seen_ms"`
}

// maxLastSeenMS keeps last_seen_ms within a time.Duration (about 31 years).
const maxLastSeenMS = 1e12

type fileRoute struct {
	Destination string  `json:"destination"`
	Via         string  `json:"via"`
	Iface       string  `json:"iface"`
	Metric      float64 `json:"metric"`
}

// ReadFile reads the manual metrics file of seed v0.3, for example
//
//	{"proto":"none","neighbors":[],"routes":[],"health":{"interfaces_up":1,"mesh_ok":true}}
//
// It is strict: at most 1 MiB, one JSON object, no unknown fields, "proto"
// one of "none", "batman-adv", "babel" or "file", and "health" with both
// of its fields. The result has FromFile set and Proto as written;
// InterfacesUp and MeshOK are taken from "health" as the operator wrote
// them.
func ReadFile(path string) (Metrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return Metrics{}, fmt.Errorf("read mesh metrics: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInputBytes+1))
	if err != nil {
		return Metrics{}, fmt.Errorf("read mesh metrics %s: %w", path, err)
	}
	m, err := parseMetricsFile(data)
	if err != nil {
		return Metrics{}, fmt.Errorf("read mesh metrics %s: %w", path, err)
	}
	m.ReadAt = time.Now()
	return m, nil
}

func parseMetricsFile(data []byte) (Metrics, error) {
	if len(data) > maxInputBytes {
		return Metrics{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxInputBytes)
	}
	var fm fileMetrics
	if err := canon.DecodeJSON(data, &fm); err != nil {
		return Metrics{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if fm.Proto == nil {
		return Metrics{}, fmt.Errorf("%w: missing proto", ErrMalformed)
	}
	switch *fm.Proto {
	case ProtoNone, ProtoBatman, ProtoBabel, ProtoFile:
	default:
		return Metrics{}, fmt.Errorf("%w: unknown proto %q", ErrMalformed, truncate(*fm.Proto))
	}
	if fm.Health == nil || fm.Health.InterfacesUp == nil || fm.Health.MeshOK == nil {
		return Metrics{}, fmt.Errorf("%w: missing health.interfaces_up or health.mesh_ok", ErrMalformed)
	}
	if *fm.Health.InterfacesUp < 0 {
		return Metrics{}, fmt.Errorf("%w: negative health.interfaces_up", ErrMalformed)
	}
	if len(fm.Neighbors) > maxEntries || len(fm.Routes) > maxEntries {
		return Metrics{}, fmt.Errorf("%w: more than %d neighbours or routes", ErrMalformed, maxEntries)
	}
	m := Metrics{Proto: *fm.Proto, FromFile: true, InterfacesUp: *fm.Health.InterfacesUp, MeshOK: *fm.Health.MeshOK}
	for i, n := range fm.Neighbors {
		if n.Address == "" || n.LastSeenMS < 0 || n.LastSeenMS > maxLastSeenMS {
			return Metrics{}, fmt.Errorf("%w: neighbour %d: empty address or last_seen_ms out of range", ErrMalformed, i)
		}
		m.Neighbors = append(m.Neighbors, Neighbor{
			Address: n.Address, Iface: n.Iface, Metric: n.Metric, Reach: n.Reach,
			RxCost: n.RxCost, TxCost: n.TxCost, LastSeen: time.Duration(n.LastSeenMS) * time.Millisecond,
		})
	}
	for i, r := range fm.Routes {
		if r.Destination == "" {
			return Metrics{}, fmt.Errorf("%w: route %d: empty destination", ErrMalformed, i)
		}
		m.Routes = append(m.Routes, Route(r))
	}
	return m, nil
}
