package broker

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

func TestScoreOrdersByEachFactor(t *testing.T) {
	w := DefaultWeights()
	base := Candidate{HostID: "a", Price: 100, MeshOK: true, Neighbours: 2, Link: "udp"}
	with := func(f func(*Candidate)) Candidate { c := base; f(&c); return c }
	tests := []struct {
		name          string
		better, worse Candidate
	}{
		{"cheaper", base, with(func(c *Candidate) { c.Price = 200 })},
		{"udp over ble", base, with(func(c *Candidate) { c.Link = "ble" })},
		{"ble over bt_lr", with(func(c *Candidate) { c.Link = "ble" }), with(func(c *Candidate) { c.Link = "bt_lr" })},
		{"bt_lr over lora", with(func(c *Candidate) { c.Link = "bt_lr" }), with(func(c *Candidate) { c.Link = "lora" })},
		{"lora over file", with(func(c *Candidate) { c.Link = "lora" }), with(func(c *Candidate) { c.Link = "file" })},
		{"mesh ok", base, with(func(c *Candidate) { c.MeshOK = false })},
		{"more neighbours", with(func(c *Candidate) { c.Neighbours = 6 }), base},
		{"shorter path", base, with(func(c *Candidate) { c.PathMetric = 2 })},
		{"more hits", with(func(c *Candidate) { c.Rep.Hits = 5 }), base},
		{"fewer misses", base, with(func(c *Candidate) { c.Rep.Misses = 1 })},
		{"others' hits count", with(func(c *Candidate) { c.Rep.OtherHits = 4 }), base},
		{"own hits count more than others'", with(func(c *Candidate) { c.Rep.Hits = 4 }), with(func(c *Candidate) { c.Rep.OtherHits = 4 })},
		{"reliability beats price", with(func(c *Candidate) { c.Price = 200; c.Rep.Hits = 20 }), with(func(c *Candidate) { c.Price = 0; c.Rep.Misses = 3 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, wo := Score(tt.better, 200, w), Score(tt.worse, 200, w)
			if b.Score >= wo.Score {
				t.Errorf("better %.4f (%s) not below worse %.4f (%s)", b.Score, b.Why, wo.Score, wo.Why)
			}
		})
	}
}

func TestScoreValues(t *testing.T) {
	w := DefaultWeights()
	// Unknown rep: reliability 0.5. Price 50 of ref 100: 1.5. LoRa 1.1.
	// Path 1: 1.1. No neighbours: 1. Mesh ok: 1. 1.5*1.1*1.1/0.5 = 3.63.
	got := Score(Candidate{Price: 50, Link: "lora", PathMetric: 1, MeshOK: true}, 100, w)
	if d := got.Score - 3.63; d > 1e-9 || d < -1e-9 {
		t.Fatalf("score %.6f, want 3.63 (%s)", got.Score, got.Why)
	}
	if LinkFactor("carrier-pigeon") != LinkFactor("file") {
		t.Fatal("an unknown link must count as the slowest")
	}
}

func TestRankLiarFallsUntilNotChosen(t *testing.T) {
	hosts := []Candidate{{HostID: "liar", Price: 10, MeshOK: true, Link: "udp"}, {HostID: "h1", Price: 20, MeshOK: true, Link: "udp"}, {HostID: "h2", Price: 20, MeshOK: true, Link: "udp"}}
	if Rank(hosts, DefaultWeights())[0].HostID != "liar" {
		t.Fatal("the cheapest unknown host should start first")
	}
	for round := 1; round <= 10; round++ {
		hosts[0].Rep.Misses++
		hosts[1].Rep.Hits++
		hosts[2].Rep.Hits++
		ranked := Rank(hosts, DefaultWeights())
		top2 := []string{ranked[0].HostID, ranked[1].HostID}
		if !slices.Contains(top2, "liar") {
			if round > 2 {
				t.Fatalf("liar still among the best two after %d misses", round)
			}
			return
		}
	}
	t.Fatal("liar never left the best two")
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		votes    []Vote
		r        int
		accepted bool
		hash     string
		minority []string
		more     int
	}{
		{"r=2 agree", []Vote{{"a", "x"}, {"b", "x"}}, 2, true, "x", nil, 0},
		{"r=1 one answer", []Vote{{"a", "x"}}, 1, true, "x", nil, 0},
		{"r=2 mismatch asks a tie-breaker", []Vote{{"a", "x"}, {"b", "y"}}, 2, false, "", nil, 1},
		{"tie broken", []Vote{{"a", "x"}, {"b", "y"}, {"c", "x"}}, 2, true, "x", []string{"b"}, 0},
		{"one failed asks one more", []Vote{{"a", "x"}, {"b", ""}}, 2, false, "", nil, 1},
		{"none yet", nil, 3, false, "", nil, 3},
		{"r reached but no majority", []Vote{{"a", "x"}, {"b", "x"}, {"c", "y"}, {"d", "y"}}, 2, false, "", nil, 1},
		{"r=3 two agree", []Vote{{"a", "x"}, {"b", "x"}}, 3, false, "", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Decide(tt.votes, tt.r)
			if v.Accepted != tt.accepted || v.Hash != tt.hash || v.More != tt.more || !slices.Equal(v.Minority, tt.minority) {
				t.Fatalf("Decide = %+v", v)
			}
		})
	}
}

func TestSLA(t *testing.T) {
	s := SLA{Activate: 2 * time.Second, StallAge: 10 * time.Second, MinDelta: 0.05, Cooldown: 5 * time.Second, MaxRetries: 2}
	t0 := time.Unix(1000, 0)
	p := Progress{Dispatched: t0}
	if why := s.Late(p, time.Hour, 0, t0.Add(time.Second)); why != "" {
		t.Fatalf("late before t_activate: %s", why)
	}
	if why := s.Late(p, time.Hour, 0, t0.Add(2*time.Second)); why != "not started within t_activate" {
		t.Fatalf("not started: %q", why)
	}
	p = s.Observe(p, true, 0, t0.Add(time.Second))
	p = s.Observe(p, true, 0.03, t0.Add(5*time.Second)) // too small a step: no movement
	if why := s.Late(p, time.Hour, 0, t0.Add(11*time.Second)); why != "stalled" {
		t.Fatalf("stall: %q", why)
	}
	p = s.Observe(p, true, 0.5, t0.Add(11*time.Second))
	if why := s.Late(p, time.Hour, 0, t0.Add(12*time.Second)); why != "" {
		t.Fatalf("moving job late: %q", why)
	}
	if why := s.Late(p, 10*time.Second, 0, t0.Add(12*time.Second)); why != "past the job's timeout" {
		t.Fatalf("deadline: %q", why)
	}
	if !s.MayRetry(0, time.Time{}, t0) || s.MayRetry(1, t0, t0.Add(4*time.Second)) || !s.MayRetry(1, t0, t0.Add(5*time.Second)) || s.MayRetry(2, t0, t0.Add(time.Hour)) {
		t.Fatal("retry rules wrong")
	}
}

func newKeys(t testing.TB) *identity.Keys {
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRepStoreMergeAndForgery(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	me, other, host := newKeys(t), newKeys(t), newKeys(t).ID().String()
	s, err := OpenRepStore(ctx, db, me)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Observe(ctx, host, 3, 1); err != nil {
		t.Fatal(err)
	}
	// Max per field: a newer record with more hits, an older one with more
	// misses.
	if _, err := s.Merge(ctx, []RepRecord{SignRep(other, host, 10, 0), SignRep(other, host, 2, 4)}); err != nil {
		t.Fatal(err)
	}
	forged := SignRep(other, host, 1000, 0)
	forged.Hits = 2000
	stolen := SignRep(other, host, 1, 1)
	stolen.Observer = newKeys(t).ID().String()
	mine := SignRep(me, host, 0, 500)
	bad := []struct {
		name string
		rs   []RepRecord
		err  error
	}{
		{"changed count", []RepRecord{SignRep(other, host, 11, 0), forged}, ErrForged},
		{"another observer's key", []RepRecord{stolen}, ErrForged},
		{"this node as observer", []RepRecord{mine}, ErrForged},
	}
	for _, tt := range bad {
		if _, err := s.Merge(ctx, tt.rs); !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
	reps, err := s.Reputations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reps[host], (Reputation{Hits: 3, Misses: 1, OtherHits: 10, OtherMisses: 4}); got != want {
		t.Fatalf("reputation %+v, want %+v (nothing of a refused merge written)", got, want)
	}
	exp, err := s.Export(ctx)
	if err != nil || len(exp) != 1 || exp[0].Hits != 3 || exp[0].Verify() != nil {
		t.Fatalf("export %+v %v", exp, err)
	}
	b, _ := json.Marshal(exp)
	if rs, err := DecodeRepRecords(b); err != nil || len(rs) != 1 {
		t.Fatalf("decode own export: %v", err)
	}
}

func FuzzDecodeRepRecords(f *testing.F) {
	k := newKeys(f)
	good, _ := json.Marshal([]RepRecord{SignRep(k, newKeys(f).ID().String(), 3, 1)})
	f.Add(good)
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"version":"offgrid-rep/1"}]`))
	f.Add([]byte(`{"x":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := DecodeRepRecords(b)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Verify() != nil {
				t.Fatal("decoded a record that does not verify")
			}
		}
	})
}
