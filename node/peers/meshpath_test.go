package peers

import "testing"

func TestMeshPath(t *testing.T) {
	mesh := MeshMetrics{
		Neighbors: []MeshNeighbor{{Address: "10.0.0.6", Metric: 96}, {Address: "fe80::1", Metric: 256}},
		Routes: []MeshRoute{
			{Destination: "10.0.0.7/32", Via: "10.0.0.6", Metric: 192},
			{Destination: "10.1.0.0/16", Via: "10.0.0.6", Metric: 400},
			{Destination: "10.0.0.6", Metric: 96},
		},
	}
	tests := []struct {
		host         string
		wantNeighbor bool
		wantMetric   float64
	}{
		{"10.0.0.6", true, 96},
		{"10.0.0.7", false, 192},
		{"10.1.2.3", false, 400},
		{"10.9.9.9", false, -1},
		{"fe80::1", true, 256},
		{"node-a.local", false, -1},
		{"", false, -1},
	}
	for _, tt := range tests {
		n, m := meshPath(mesh, tt.host)
		if n != tt.wantNeighbor || m != tt.wantMetric {
			t.Errorf("meshPath(%q) = %v, %v, want %v, %v", tt.host, n, m, tt.wantNeighbor, tt.wantMetric)
		}
	}
}
