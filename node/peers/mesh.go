package peers

import (
	"context"
	"encoding/json"
	"reflect"
	"time"

	"github.com/offgrid-net/offgrid/radio/meshhealth"
)

// meshSources lists the mesh readers in the order the poller tries them.
func (s *Service) meshSources() []meshhealth.Source {
	var out []meshhealth.Source
	if s.cfg.Batctl != nil {
		out = append(out, *s.cfg.Batctl)
	}
	if s.cfg.BabelAddr != "" {
		out = append(out, meshhealth.Babel{Addr: s.cfg.BabelAddr})
	}
	return append(out, meshhealth.File{Path: s.cfg.MeshFile})
}

// loadMesh restores the last metrics saved, so a restart shows them at once.
func (s *Service) loadMesh(ctx context.Context) {
	s.mesh = MeshMetrics{Source: "none", Proto: "none", ReadAt: s.deps.Now().UTC()}
	var js string
	if err := s.deps.DB.QueryRowContext(ctx, `SELECT metrics FROM node_mesh WHERE id = 1`).Scan(&js); err == nil {
		var m MeshMetrics
		if json.Unmarshal([]byte(js), &m) == nil {
			s.mesh = m
		}
	}
}

// meshStaleReads is how many polls in a row no source must answer before
// the last metrics a source gave are replaced by "none": one slow read on
// a busy node does not flip the mesh to "none" and back.
const meshStaleReads = 3

// keepLastMesh reports whether a poll leaves the last metrics in place:
// it does while no source has answered for fewer than meshStaleReads polls
// in a row (failed counts them, this one included) and the last metrics
// came from a source.
func keepLastMesh(prev MeshMetrics, failed int) bool {
	return failed > 0 && failed < meshStaleReads && prev.Source != "none"
}

// pollMesh reads mesh metrics every MeshPollInterval until ctx ends,
// keeping them in SQLite and telling subscribers when they change.
func (s *Service) pollMesh(ctx context.Context) {
	p := meshhealth.NewPoller(s.cfg.MeshPollInterval, s.meshSources(), s.deps.Now)
	failed := 0 // polls in a row no source answered
	err := p.Run(ctx, func(m meshhealth.Metrics, err error) {
		got := meshFrom(m)
		if err == nil {
			failed = 0
		} else {
			failed++
			s.log.Debug("No mesh metrics source answered", "err", err)
		}
		s.meshMu.Lock()
		prev := s.mesh
		if keepLastMesh(prev, failed) {
			s.meshMu.Unlock()
			return
		}
		s.mesh = got
		s.meshMu.Unlock()
		if sameMesh(prev, got) {
			return
		}
		if js, jerr := json.Marshal(got); jerr == nil {
			if _, derr := s.deps.DB.ExecContext(ctx, `INSERT INTO node_mesh(id, metrics, read_at) VALUES (1, ?, ?)
				ON CONFLICT(id) DO UPDATE SET metrics = excluded.metrics, read_at = excluded.read_at`,
				string(js), got.ReadAt.UnixMilli()); derr != nil && ctx.Err() == nil {
				s.log.Warn("Could not save mesh metrics", "err", derr)
			}
		}
		s.log.Info("Mesh metrics changed", "proto", got.Proto, "neighbors", len(got.Neighbors), "meshOK", got.MeshOK)
		s.deps.Events.Publish(MeshChanged{Mesh: got})
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("Mesh poller stopped", "err", err)
	}
}

func meshFrom(m meshhealth.Metrics) MeshMetrics {
	out := MeshMetrics{Source: m.Proto, Proto: m.Proto, MeshOK: m.MeshOK, InterfacesUp: m.InterfacesUp, ReadAt: m.ReadAt.UTC()}
	switch {
	case m.FromFile:
		// The file's protocol is reported as the operator wrote it.
		out.Source = "file"
	case m.Proto == meshhealth.ProtoBatman, m.Proto == meshhealth.ProtoBabel:
		out.Source = "daemon"
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
