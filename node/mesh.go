package node

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/radio/meshhealth"
)

// meshState holds the last mesh metrics read by the poller.
type meshState struct {
	// mu guards last.
	mu   sync.Mutex
	last MeshMetrics
}

// Mesh returns the last mesh health read from batctl, babeld or the
// metrics file (source "none" before the first read or when none answers).
func (n *Node) Mesh(ctx context.Context) (MeshMetrics, error) {
	if err := n.checkRunning(); err != nil {
		return MeshMetrics{}, err
	}
	n.mesh.mu.Lock()
	defer n.mesh.mu.Unlock()
	return n.mesh.last, nil
}

// meshSources lists the mesh readers in the order the poller tries them.
func (n *Node) meshSources() []meshhealth.Source {
	var out []meshhealth.Source
	if n.cfg.Batctl != nil {
		out = append(out, *n.cfg.Batctl)
	}
	if n.cfg.BabelAddr != "" {
		out = append(out, meshhealth.Babel{Addr: n.cfg.BabelAddr})
	}
	return append(out, meshhealth.File{Path: n.cfg.MeshFile})
}

// loadMesh restores the last metrics saved, so a restart shows them at once.
func (n *Node) loadMesh(ctx context.Context) {
	n.mesh.last = MeshMetrics{Source: "none", Proto: "none", ReadAt: n.cfg.Now().UTC()}
	var js string
	if err := n.db.QueryRowContext(ctx, `SELECT metrics FROM node_mesh WHERE id = 1`).Scan(&js); err == nil {
		var m MeshMetrics
		if json.Unmarshal([]byte(js), &m) == nil {
			n.mesh.last = m
		}
	}
}

// pollMesh reads mesh metrics every MeshPollInterval until ctx ends,
// keeping them in SQLite and telling subscribers when they change.
func (n *Node) pollMesh(ctx context.Context) {
	p := meshhealth.NewPoller(n.cfg.MeshPollInterval, n.meshSources(), n.cfg.Now)
	err := p.Run(ctx, func(m meshhealth.Metrics, err error) {
		got := meshFrom(m)
		if err != nil {
			n.log.Debug("No mesh metrics source answered", "err", err)
		}
		n.mesh.mu.Lock()
		prev := n.mesh.last
		n.mesh.last = got
		n.mesh.mu.Unlock()
		if sameMesh(prev, got) {
			return
		}
		if js, jerr := json.Marshal(got); jerr == nil {
			if _, derr := n.db.ExecContext(ctx, `INSERT INTO node_mesh(id, metrics, read_at) VALUES (1, ?, ?)
				ON CONFLICT(id) DO UPDATE SET metrics = excluded.metrics, read_at = excluded.read_at`,
				string(js), got.ReadAt.UnixMilli()); derr != nil && ctx.Err() == nil {
				n.log.Warn("Could not save mesh metrics", "err", derr)
			}
		}
		n.log.Info("Mesh metrics changed", "proto", got.Proto, "neighbors", len(got.Neighbors), "meshOK", got.MeshOK)
		n.bus.Publish(MeshChanged{Mesh: got})
	})
	if err != nil && ctx.Err() == nil {
		n.log.Warn("Mesh poller stopped", "err", err)
	}
}

func meshFrom(m meshhealth.Metrics) MeshMetrics {
	out := MeshMetrics{Source: m.Proto, Proto: m.Proto, MeshOK: m.MeshOK, InterfacesUp: m.InterfacesUp, ReadAt: m.ReadAt.UTC()}
	switch m.Proto {
	case meshhealth.ProtoBatman, meshhealth.ProtoBabel:
		out.Source = "daemon"
	case meshhealth.ProtoFile:
		out.Source, out.Proto = "file", "file"
	default:
		out.Source, out.Proto = "none", "none"
	}
	for _, nb := range m.Neighbors {
		out.Neighbors = append(out.Neighbors, MeshNeighbor{Address: nb.Address, Iface: nb.Iface, Metric: nb.Metric})
	}
	for _, r := range m.Routes {
		out.Routes = append(out.Routes, MeshRoute{Destination: r.Destination, Via: r.Via, Metric: r.Metric})
	}
	return out
}

// sameMesh compares metrics ignoring when they were read.
func sameMesh(a, b MeshMetrics) bool {
	a.ReadAt, b.ReadAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// MeshChanged says fresh mesh metrics were read (from batctl, babeld or the
// metrics file) and differ from the last ones.
type MeshChanged struct {
	Mesh MeshMetrics
}

// Kind implements Event.
func (MeshChanged) Kind() string { return "mesh" }
