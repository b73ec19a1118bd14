package broker

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Link factors: the cost of reaching a host over the link it is heard on;
// lower is better. bt_lr (Bluetooth long range) lies between BLE and LoRa.
// A link not in the table counts as the slowest.
var linkFactors = map[string]float64{
	"udp":   1.0,
	"ble":   1.05,
	"bt_lr": 1.08,
	"lora":  1.1,
	"file":  1.2,
}

// LinkFactor returns the factor of a link name.
func LinkFactor(link string) float64 {
	if f, ok := linkFactors[link]; ok {
		return f
	}
	return linkFactors["file"]
}

// Weights tune Score. DefaultWeights documents each.
type Weights struct {
	// OthersWeight is how much a hit or miss another node observed counts
	// against one this node observed itself (1).
	OthersWeight float64
	// MeshPenalty multiplies the score of a host whose mesh is not healthy.
	MeshPenalty float64
	// NeighbourBonus is the most a host's neighbours take off its score (a
	// fraction), reached at NeighbourCap neighbours.
	NeighbourBonus float64
	NeighbourCap   int
	// PathPenalty is added to the score's factor per unit of path metric
	// (0 for a host heard directly).
	PathPenalty float64
}

// DefaultWeights: others' observations count a quarter of one's own; an
// unhealthy mesh doubles the score; up to 10% off for 8 neighbours or more;
// each unit of path metric (a hop on BATMAN's scale of 1) adds 10%.
func DefaultWeights() Weights {
	return Weights{OthersWeight: 0.25, MeshPenalty: 2, NeighbourBonus: 0.1, NeighbourCap: 8, PathPenalty: 0.1}
}

// Reputation is what is known of a host: hits and misses this node
// observed, and the most that other observers reported (summed over them).
type Reputation struct {
	Hits, Misses           uint64
	OtherHits, OtherMisses uint64
}

// Reliability is the share of hits, own observations weighing 1 and others'
// w, with one hit and one miss assumed (so an unknown host is at 0.5 and
// never at 0 or 1).
func (r Reputation) Reliability(w float64) float64 {
	hits := float64(r.Hits) + w*float64(r.OtherHits)
	misses := float64(r.Misses) + w*float64(r.OtherMisses)
	return (hits + 1) / (hits + misses + 2)
}

// Candidate is a host that quoted for a job.
type Candidate struct {
	HostID     string
	URL        string
	Price      int64 // quoted price in micro-units
	Rep        Reputation
	MeshOK     bool
	Neighbours int
	PathMetric float64
	Link       string
}

// Scored is a candidate with its score (lower is better) and the reasons.
type Scored struct {
	Candidate
	Score float64
	Why   string
}

// Score rates one candidate; refPrice is the highest price quoted in the
// round (prices are compared within a round, not in absolute terms). Lower
// is better:
//
//	score = (1 + price/refPrice) × link × (1 + PathPenalty×path) × mesh
//	        × (1 − NeighbourBonus×min(neighbours, cap)/cap) / reliability
//
// The price term runs from 1 (free) to 2 (the dearest in the round), so
// price never outweighs reputation entirely: a host with twice the
// reliability wins at any price.
func Score(c Candidate, refPrice int64, w Weights) Scored {
	priceTerm := 1.0
	if refPrice > 0 {
		priceTerm += float64(max(c.Price, 0)) / float64(refPrice)
	}
	link := LinkFactor(c.Link)
	path := 1 + w.PathPenalty*math.Max(c.PathMetric, 0)
	mesh := 1.0
	if !c.MeshOK {
		mesh = w.MeshPenalty
	}
	bonus := 1.0
	if w.NeighbourCap > 0 {
		bonus -= w.NeighbourBonus * float64(min(max(c.Neighbours, 0), w.NeighbourCap)) / float64(w.NeighbourCap)
	}
	rel := c.Rep.Reliability(w.OthersWeight)
	s := priceTerm * link * path * mesh * bonus / rel
	why := []string{
		fmt.Sprintf("price %.2f", priceTerm),
		fmt.Sprintf("link %s ×%.2f", linkName(c.Link), link),
		fmt.Sprintf("path ×%.2f", path),
		fmt.Sprintf("neighbours %d ×%.2f", c.Neighbours, bonus),
		fmt.Sprintf("reliability %.2f (%d/%d own, %d/%d others)", rel, c.Rep.Hits, c.Rep.Misses, c.Rep.OtherHits, c.Rep.OtherMisses),
	}
	if !c.MeshOK {
		why = append(why, fmt.Sprintf("mesh not ok ×%.2f", mesh))
	}
	return Scored{Candidate: c, Score: s, Why: strings.Join(why, ", ")}
}

func linkName(l string) string {
	if l == "" {
		return "unknown"
	}
	return l
}

// Rank scores candidates and sorts them best first (ties by host ID, so
// that the order is deterministic).
func Rank(cs []Candidate, w Weights) []Scored {
	var ref int64
	for _, c := range cs {
		ref = max(ref, c.Price)
	}
	out := make([]Scored, len(cs))
	for i, c := range cs {
		out[i] = Score(c, ref, w)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score < out[j].Score
		}
		return out[i].HostID < out[j].HostID
	})
	return out
}
