package quorum

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type feed map[string]float64

func (f feed) FedWeight(n string) (float64, bool) { w, ok := f[n]; return w, ok }

func open(t *testing.T, f Feed) (*Store, *clock, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "offgrid.db")
	db, err := sqlitedb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := Open(context.Background(), db, f, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, path
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestWeightsAndDecay: the weight of an ack is the policy's, else the fed
// one, else the default; it halves every half-life of its kind and lapses
// after the kind's maximum age; a repeated ack counts once.
func TestWeightsAndDecay(t *testing.T) {
	ctx := context.Background()
	s, c, _ := open(t, feed{"lora-node": FedWeight("lora", 1), "bad-rep": FedWeight("udp", 0.25)})
	p := DefaultPolicy()
	p.Weights["heavy"] = 2
	if err := s.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, Job, "job-1", 3.5); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		ack     string
		advance time.Duration
		weight  float64
		reached bool
	}{
		{ack: "heavy", weight: 2},
		{ack: "lora-node", weight: 2.5},
		{ack: "lora-node", weight: 2.5}, // counted once
		{ack: "bad-rep", weight: 2.75},
		{ack: "plain", weight: 3.75, reached: true},
		{advance: time.Hour, weight: 3.75 / 2},               // one half-life later
		{ack: "plain", weight: 3.75/2 + 0.5, reached: false}, // refreshed: plain counts fully again
		{advance: 6*time.Hour + time.Second, weight: 0},      // past the max age for all
	}
	for i, st := range steps {
		c.t = c.t.Add(st.advance)
		var got Status
		var err error
		if st.ack != "" {
			got, err = s.Ack(ctx, Job, "job-1", st.ack)
		} else {
			got, err = s.Status(ctx, Job, "job-1")
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !near(got.Weight, st.weight) || got.Reached != st.reached {
			t.Fatalf("step %d: weight %v reached %v, want %v %v", i, got.Weight, got.Reached, st.weight, st.reached)
		}
	}
	// Uploads do not decay by default.
	if err := s.Create(ctx, Upload, "asset-1", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ack(ctx, Upload, "asset-1", "plain"); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(30 * 24 * time.Hour)
	if st, _ := s.Status(ctx, Upload, "asset-1"); !st.Reached {
		t.Fatalf("an upload quorum decayed: %+v", st)
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t, nil)
	bad := []struct {
		name string
		err  error
		want error
	}{
		{"unknown kind", s.Create(ctx, "coin", "x", 1), ErrInvalid},
		{"zero required", s.Create(ctx, Job, "x", 0), ErrInvalid},
		{"NaN required", s.Create(ctx, Job, "x", math.NaN()), ErrInvalid},
		{"bad id", s.Create(ctx, Job, "has space", 1), ErrInvalid},
		{"negative weight", s.SetPolicy(ctx, Policy{DefaultWeight: 1, Weights: map[string]float64{"a": -1}}), ErrInvalid},
		{"negative decay", s.SetPolicy(ctx, Policy{DefaultWeight: 1, Decay: map[Kind]Decay{Job: {HalfLife: -1}}}), ErrInvalid},
	}
	for _, b := range bad {
		if !errors.Is(b.err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, b.err, b.want)
		}
	}
	if _, err := s.Ack(ctx, Job, "never-created", "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ack of an unknown quorum: %v", err)
	}
	if l, _ := s.List(ctx, Job, 10); len(l) != 0 {
		t.Errorf("refused calls created %d quorums", len(l))
	}
}

// TestPolicyPersists: the policy and the quorums survive reopening.
func TestPolicyPersists(t *testing.T) {
	ctx := context.Background()
	s, c, path := open(t, nil)
	p := DefaultPolicy()
	p.DefaultWeight = 0.5
	p.Decay[Token] = Decay{HalfLife: time.Minute}
	if err := s.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, Token, "tok", 1); err != nil {
		t.Fatal(err)
	}
	db2, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	s2, err := Open(ctx, db2, nil, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Policy(); got.DefaultWeight != 0.5 || got.Decay[Token].HalfLife != time.Minute {
		t.Fatalf("reopened policy = %+v", got)
	}
	st, err := s2.Ack(ctx, Token, "tok", "n1")
	if err != nil || !near(st.Weight, 0.5) {
		t.Fatalf("ack after reopen = %+v, %v", st, err)
	}
}
