package peers

import "testing"

// TestKeepLastMesh: one or two polls in a row that no source answers leave
// the last metrics a source gave; the third replaces them with "none";
// an answer always replaces them.
func TestKeepLastMesh(t *testing.T) {
	fromFile, none := MeshMetrics{Source: "file", Proto: "batman-adv"}, MeshMetrics{Source: "none", Proto: "none"}
	for _, tt := range []struct {
		name   string
		prev   MeshMetrics
		failed int
		keep   bool
	}{
		{"a source answered", fromFile, 0, false},
		{"first failed poll", fromFile, 1, true},
		{"second failed poll", fromFile, 2, true},
		{"third failed poll", fromFile, 3, false},
		{"many failed polls", fromFile, 10, false},
		{"nothing to keep", none, 1, false},
	} {
		if got := keepLastMesh(tt.prev, tt.failed); got != tt.keep {
			t.Errorf("%s: keepLastMesh(%s, %d) = %v, want %v", tt.name, tt.prev.Source, tt.failed, got, tt.keep)
		}
	}
}
