package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxMeshFileBytes bounds the manual metrics file read on each request.
const maxMeshFileBytes = 1 << 20

// meshFile is the seed's mesh/metrics.json format.
type meshFile struct {
	Proto     string `json:"proto"`
	Neighbors []struct {
		Address string  `json:"address"`
		Iface   string  `json:"iface"`
		Metric  float64 `json:"metric"`
	} `json:"neighbors"`
	Routes []struct {
		Destination string  `json:"destination"`
		Via         string  `json:"via"`
		Metric      float64 `json:"metric"`
	} `json:"routes"`
	Health struct {
		InterfacesUp int  `json:"interfaces_up"`
		MeshOK       bool `json:"mesh_ok"`
	} `json:"health"`
}

// Mesh returns the mesh health from the manual metrics file. Without a file
// it reports source "none" and mesh_ok false. A malformed file is
// ErrUnavailable, naming the problem.
func (n *Node) Mesh(ctx context.Context) (MeshMetrics, error) {
	if err := n.checkRunning(); err != nil {
		return MeshMetrics{}, err
	}
	now := n.cfg.Now().UTC()
	f, err := os.Open(n.cfg.MeshFile)
	if errors.Is(err, fs.ErrNotExist) {
		return MeshMetrics{Source: "none", Proto: "none", ReadAt: now}, nil
	}
	if err != nil {
		return MeshMetrics{}, fmt.Errorf("%w: mesh metrics file: %v", ErrUnavailable, err)
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, maxMeshFileBytes))
	dec.DisallowUnknownFields()
	var mf meshFile
	if err := dec.Decode(&mf); err != nil {
		return MeshMetrics{}, fmt.Errorf("%w: mesh metrics file %s: %v", ErrUnavailable, n.cfg.MeshFile, err)
	}
	m := MeshMetrics{Source: "file", Proto: mf.Proto, MeshOK: mf.Health.MeshOK, InterfacesUp: mf.Health.InterfacesUp, ReadAt: now}
	for _, nb := range mf.Neighbors {
		m.Neighbors = append(m.Neighbors, MeshNeighbor{Address: nb.Address, Iface: nb.Iface, Metric: nb.Metric})
	}
	for _, r := range mf.Routes {
		m.Routes = append(m.Routes, MeshRoute{Destination: r.Destination, Via: r.Via, Metric: r.Metric})
	}
	return m, nil
}

// MeshChanged says fresh mesh metrics were read (from batctl, babeld or the
// metrics file) and differ from the last ones.
type MeshChanged struct {
	Mesh MeshMetrics
}

// Kind implements Event.
func (MeshChanged) Kind() string { return "mesh" }
