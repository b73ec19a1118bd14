package meshhealth

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func addFixtures(f *testing.F, pattern string) {
	f.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixtures %s: %v", pattern, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseBabelDump(f *testing.F) {
	addFixtures(f, "testdata/babel/*.txt")
	f.Add([]byte("change neighbour 1 address x if y reach ffff rxcost 1 txcost 1 cost 1\nflush neighbour 1\nok\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseBabelDump(bytes.NewReader(in))
		if err != nil {
			return
		}
		if m.Proto != ProtoBabel || len(m.Neighbors)+len(m.Routes) > maxBabelLines {
			t.Fatalf("ParseBabelDump(%q) = %+v", in, m)
		}
		for _, n := range m.Neighbors {
			if n.Metric < 0 || n.Metric > BabelInfinity || n.Address == "" {
				t.Fatalf("ParseBabelDump(%q) neighbour %+v out of range", in, n)
			}
		}
	})
}

func FuzzParseBatctlNeighbors(f *testing.F) {
	addFixtures(f, "testdata/batctl/*-neighbors.txt")
	f.Fuzz(func(t *testing.T, in []byte) {
		ns, err := ParseBatctlNeighbors(in)
		if err != nil {
			return
		}
		if len(ns) > maxEntries {
			t.Fatalf("ParseBatctlNeighbors(%q) returned %d neighbours", in, len(ns))
		}
		for _, n := range ns {
			if n.Address == "" || n.LastSeen < 0 || n.Metric < 0 {
				t.Fatalf("ParseBatctlNeighbors(%q) neighbour %+v", in, n)
			}
		}
	})
}

func FuzzParseBatctlOriginators(f *testing.F) {
	addFixtures(f, "testdata/batctl/*-originators.txt")
	f.Fuzz(func(t *testing.T, in []byte) {
		rs, err := ParseBatctlOriginators(in)
		if err != nil {
			return
		}
		if len(rs) > maxEntries {
			t.Fatalf("ParseBatctlOriginators(%q) returned %d routes", in, len(rs))
		}
	})
}

func FuzzParseBatctlNeighborsJSON(f *testing.F) {
	addFixtures(f, "testdata/batctl/*-neighbors.json")
	f.Fuzz(func(t *testing.T, in []byte) {
		ns, err := ParseBatctlNeighborsJSON(in)
		if err != nil {
			return
		}
		if len(ns) > maxEntries {
			t.Fatalf("ParseBatctlNeighborsJSON(%q) returned %d neighbours", in, len(ns))
		}
		for _, n := range ns {
			if n.Address == "" || n.LastSeen < 0 || n.Metric < 0 {
				t.Fatalf("ParseBatctlNeighborsJSON(%q) neighbour %+v", in, n)
			}
		}
	})
}

func FuzzParseBatctlOriginatorsJSON(f *testing.F) {
	addFixtures(f, "testdata/batctl/*-originators.json")
	f.Fuzz(func(t *testing.T, in []byte) {
		rs, err := ParseBatctlOriginatorsJSON(in)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Destination == "" || r.Via == "" || r.Metric < 0 {
				t.Fatalf("ParseBatctlOriginatorsJSON(%q) route %+v", in, r)
			}
		}
	})
}

func FuzzParseMetricsFile(f *testing.F) {
	f.Add([]byte(seedMetrics))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := parseMetricsFile(in)
		if err != nil {
			return
		}
		if !m.FromFile || m.InterfacesUp < 0 {
			t.Fatalf("parseMetricsFile(%q) = %+v", in, m)
		}
	})
}
