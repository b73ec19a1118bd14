package cluster

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/offgrid-net/offgrid/identity"
)

// econFixture: the fixture's cluster with stranger 0 admitted, then an
// economy of witnesses m0 (weight 2), m1 and s0 (weight 1 each), signed
// by two admins and every witness.
type econFixture struct {
	fixture
	before, econ Document
	witnesses    []*identity.Keys
}

func newEconFixture(t testing.TB, seed uint64) econFixture {
	t.Helper()
	f := newFixture(t, seed)
	a, m, s := f.admins, f.members, f.strangers
	before, err := f.genesis.WithMember(s[0].ID(), "gamma")
	if err != nil {
		t.Fatal(err)
	}
	before = signAll(t, before, a[0], a[1])
	econ, err := before.WithEconomy(Economy{
		Witnesses: []Witness{{m[0].ID(), 2}, {m[1].ID(), 1}, {s[0].ID(), 1}},
		TxFeeMin:  100, TxFeeMax: 300, HostReserveBP: DefaultHostReserveBP,
		Genesis: []Alloc{{m[0].ID(), 5_000_000}, {s[1].ID(), 1_000_000}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ws := []*identity.Keys{m[0], m[1], s[0]}
	return econFixture{fixture: f, before: before, econ: signAll(t, econ, append([]*identity.Keys{a[0], a[1]}, ws...)...), witnesses: ws}
}

func TestEconomyGolden(t *testing.T) {
	f := newEconFixture(t, 5)
	enc, err := f.econ.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if enc[len(magic)] != version2 {
		t.Fatalf("a document with an economy encodes as version %d, want %d", enc[len(magic)], version2)
	}
	path := filepath.Join("testdata", "document_v2.hex")
	if *update {
		if err := os.WriteFile(path, []byte(hex.EncodeToString(enc)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if got := hex.EncodeToString(enc); got != strings.TrimSpace(string(want)) {
		t.Errorf("Encode = %s\nwant %s", got, want)
	}
	d, err := Parse(enc)
	if err != nil {
		t.Fatalf("Parse(v2) = %v", err)
	}
	if diff := cmp.Diff(f.econ, d); diff != "" {
		t.Errorf("Parse(v2) mismatch (-want +got):\n%s", diff)
	}
	// A document without an economy keeps version 1 and its bytes.
	v1, err := f.before.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if v1[len(magic)] != version1 {
		t.Errorf("a document without an economy encodes as version %d, want 1", v1[len(magic)])
	}
	// A version-2 document without witnesses is not canonical.
	bad := bytes.Clone(v1)
	bad[len(magic)] = version2
	if _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("Parse(version 2 without an economy) = %v, want ErrInvalid", err)
	}
}

func TestEconomyRules(t *testing.T) {
	f := newEconFixture(t, 6)
	a, m, s := f.admins, f.members, f.strangers
	admins := []*identity.Keys{a[0], a[1]}
	with := func(d Document, e Economy) Document {
		t.Helper()
		n, err := d.WithEconomy(e)
		if err != nil {
			t.Fatalf("WithEconomy: %v", err)
		}
		return n
	}
	e := f.econ.Economy.clone()
	heavier := e.clone()
	for i := range heavier.Witnesses { // m1's weight from 1 to 2
		heavier.Witnesses[i].Weight = map[identity.NodeID]uint64{m[0].ID(): 2, m[1].ID(): 2, s[0].ID(): 1}[heavier.Witnesses[i].ID]
	}
	epoch2 := with(f.econ, heavier)
	if epoch2.Economy.Epoch != 2 {
		t.Fatalf("changed weights: epoch %d, want 2", epoch2.Economy.Epoch)
	}
	feeChange := e.clone()
	feeChange.TxFeeMax = 400
	fees := with(f.econ, feeChange)
	member := signAll(t, func() Document {
		d, err := f.econ.WithMember(s[1].ID(), "delta")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}(), admins...)
	forgedEpoch := epoch2
	forgedEpoch.Economy.Epoch = 5
	sameEpochFees := fees
	sameEpochFees.Economy.Epoch = 1
	newGenesis := epoch2
	newGenesis.Economy.Genesis = append(newGenesis.Economy.Genesis[:1:1], Alloc{ID: s[1].ID(), Amount: 9_000_000})
	removed := f.econ.next()
	removed.Economy = Economy{}

	tests := []struct {
		name          string
		current, next Document
		want          error
	}{
		{"genesis signed by every witness", f.before, f.econ, nil},
		{"genesis without witness s0", f.before, signAll(t, unsigned(f.econ), a[0], a[1], m[0], m[1]), ErrInvalid},
		{"membership change, same epoch, admins only", f.econ, member, nil},
		{"epoch 2 by witness weight 3 of 4", f.econ, signAll(t, epoch2, a[0], a[1], m[0], m[1]), nil},
		{"epoch 2 by witness weight 2 of 4", f.econ, signAll(t, epoch2, a[0], a[1], m[0]), ErrNotSuccessor},
		// m1 and s0 hold 3 of the new 5 but 2 of the previous 4: only the previous count.
		{"epoch 2 by the new weights' majority", f.econ, signAll(t, epoch2, a[0], a[1], m[1], s[0]), ErrNotSuccessor},
		{"epoch 2 by all witnesses but one admin", f.econ, signAll(t, epoch2, a[0], m[0], m[1], s[0]), ErrInvalid},
		{"fees change with the epoch", f.econ, signAll(t, fees, a[0], a[1], m[0], m[1]), nil},
		{"fees change without the epoch", f.econ, signAll(t, sameEpochFees, a[0], a[1], m[0], m[1]), ErrNotSuccessor},
		{"epoch skips ahead", f.econ, signAll(t, forgedEpoch, a[0], a[1], m[0], m[1], s[0]), ErrNotSuccessor},
		{"genesis allocations change", f.econ, signAll(t, newGenesis, a[0], a[1], m[0], m[1], s[0]), ErrNotSuccessor},
		{"economy removed", f.econ, signAll(t, removed, a[0], a[1], m[0], m[1], s[0]), ErrNotSuccessor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSuccessor(tt.current, tt.next)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("CheckSuccessor = %v, want %v", err, tt.want)
			}
		})
	}

	refusals := []struct {
		name string
		d    Document
		e    Economy
	}{
		{"witness not a member", f.before, Economy{Witnesses: []Witness{{s[1].ID(), 1}}}},
		{"zero weight", f.before, Economy{Witnesses: []Witness{{m[0].ID(), 0}}}},
		{"weight too large", f.before, Economy{Witnesses: []Witness{{m[0].ID(), MaxWeight + 1}}}},
		{"fee min above max", f.before, Economy{Witnesses: []Witness{{m[0].ID(), 1}}, TxFeeMin: 5, TxFeeMax: 4}},
		{"negative fee", f.before, Economy{Witnesses: []Witness{{m[0].ID(), 1}}, TxFeeMin: -1}},
		{"host reserve over 100 %", f.before, Economy{Witnesses: []Witness{{m[0].ID(), 1}}, HostReserveBP: MaxHostReserveBP + 1}},
		{"non-positive allocation", f.before, Economy{Witnesses: []Witness{{m[0].ID(), 1}}, Genesis: []Alloc{{m[1].ID(), 0}}}},
		{"supply over the bound", f.before, Economy{Witnesses: []Witness{{m[0].ID(), 1}},
			Genesis: []Alloc{{m[1].ID(), MaxSupply}, {m[0].ID(), 1}}}},
		{"repeated witness", f.before, Economy{Witnesses: []Witness{{m[0].ID(), 1}, {m[0].ID(), 2}}}},
		{"genesis changes", f.econ, func() Economy { x := e.clone(); x.Genesis = x.Genesis[:1]; return x }()},
		{"economy removed", f.econ, Economy{}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.d.WithEconomy(tt.e); !errors.Is(err, ErrInvalid) {
				t.Errorf("WithEconomy = %v, want ErrInvalid", err)
			}
		})
	}

	t.Run("a first document with an economy needs every witness", func(t *testing.T) {
		d, err := New(f.genesis.ID, ids(a...), 2, []Member{{ID: m[0].ID(), Name: "alpha"}, {ID: m[1].ID(), Name: "beta"}})
		if err != nil {
			t.Fatal(err)
		}
		d, err = d.WithEconomy(Economy{Witnesses: []Witness{{m[0].ID(), 1}, {m[1].ID(), 1}}})
		if err != nil {
			t.Fatal(err)
		}
		d.Serial = 1
		if err := signAll(t, d, a[0], a[1], m[0]).Verify(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Verify(serial 1, one witness of two) = %v, want ErrInvalid", err)
		}
		if err := signAll(t, d, a[0], a[1], m[0], m[1]).Verify(); err != nil {
			t.Errorf("Verify(serial 1, every witness) = %v", err)
		}
	})
}

// unsigned returns d without signatures.
func unsigned(d Document) Document {
	d.Signatures = nil
	return d
}
