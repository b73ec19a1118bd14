package cluster

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/identity"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// seeded returns a deterministic byte source for keys and cluster IDs.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(s)
}

func keys(t testing.TB, r *rand.ChaCha8, n int) []*identity.Keys {
	t.Helper()
	out := make([]*identity.Keys, n)
	for i := range out {
		k, err := identity.Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = k
	}
	return out
}

func ids(ks ...*identity.Keys) []identity.NodeID {
	out := make([]identity.NodeID, len(ks))
	for i, k := range ks {
		out[i] = k.ID()
	}
	return out
}

// signAll signs d with every key in ks.
func signAll(t testing.TB, d Document, ks ...*identity.Keys) Document {
	t.Helper()
	for _, k := range ks {
		var err error
		if d, err = d.Sign(k); err != nil {
			t.Fatalf("Sign: %v", err)
		}
	}
	return d
}

// fixture is a cluster with three admins (threshold 2), two members and
// two strangers.
type fixture struct {
	admins, members, strangers []*identity.Keys
	genesis                    Document
}

func newFixture(t testing.TB, seed uint64) fixture {
	t.Helper()
	r := seeded(seed)
	f := fixture{admins: keys(t, r, 3), members: keys(t, r, 2), strangers: keys(t, r, 2)}
	id, err := NewID(r)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(id, ids(f.admins...), 2, []Member{{ID: f.members[0].ID(), Name: "alpha"}, {ID: f.members[1].ID(), Name: "beta"}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.genesis = signAll(t, d, f.admins[0], f.admins[1])
	return f
}

func TestGolden(t *testing.T) {
	f := newFixture(t, 1)
	enc, err := f.genesis.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "document_v1.hex")
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
		t.Errorf("Encode(genesis) = %s\nwant %s\n(if the format changed on purpose, raise the version and run go test -update)", got, want)
	}
	raw, _ := hex.DecodeString(strings.TrimSpace(string(want)))
	d, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse(golden) = %v", err)
	}
	if err := d.Verify(); err != nil {
		t.Errorf("Verify(golden) = %v", err)
	}
	if diff := cmp.Diff(f.genesis, d); diff != "" {
		t.Errorf("Parse(golden) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseRefusesNonCanonical(t *testing.T) {
	f := newFixture(t, 2)
	good, err := f.genesis.Encode()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := f.genesis.Body()
	edit := func(fn func(b []byte) []byte) []byte { return fn(bytes.Clone(good)) }
	// The first member entry starts after the header and the admin list.
	membersAt := headerSize + 2 + 3*keySize
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"bad magic", edit(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"version 2", edit(func(b []byte) []byte { b[4] = 2; return b })},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"truncated", good[:len(good)-1]},
		{"serial 0", edit(func(b []byte) []byte { copy(b[21:29], make([]byte, 8)); return b })},
		{"threshold 0", edit(func(b []byte) []byte { b[29] = 0; return b })},
		{"threshold above admins", edit(func(b []byte) []byte { b[29] = 4; return b })},
		{"admin count over limit", edit(func(b []byte) []byte { b[30], b[31] = 0xff, 0xff; return b })},
		{"admins out of order", edit(func(b []byte) []byte {
			a := bytes.Clone(b[32 : 32+keySize])
			copy(b[32:], b[32+keySize:32+2*keySize])
			copy(b[32+keySize:], a)
			return b
		})},
		{"empty member name", edit(func(b []byte) []byte {
			// Name length 0 shifts the rest: the parser must not accept it.
			b[membersAt+2+keySize] = 0
			return b
		})},
		{"forged signature", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
		{"signature over another body", edit(func(b []byte) []byte { b[len(body)-3] ^= 1; return b })},
		{"oversize", make([]byte, MaxSize+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.in); !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%s) = %v, want ErrInvalid", tt.name, err)
			}
		})
	}
}

func TestDocumentRules(t *testing.T) {
	f := newFixture(t, 3)
	a, s := f.admins, f.strangers
	next := func(d Document, err error) Document {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	admitS0 := next(f.genesis.WithMember(s[0].ID(), "gamma"))
	revokeM0 := next(f.genesis.WithRevoked(f.members[0].ID()))
	// A document in which the strangers make themselves the admins.
	takeover := f.genesis.next()
	takeover.Admins, takeover.Threshold = ids(s...), 1
	takeover.normalize()
	otherCluster := admitS0
	otherCluster.ID[0] ^= 1
	tests := []struct {
		name string
		next Document
		want error
	}{
		{"admit by threshold", signAll(t, admitS0, a[0], a[2]), nil},
		{"revoke by threshold", signAll(t, revokeM0, a[1], a[2]), nil},
		{"admit by one admin", signAll(t, admitS0, a[0]), ErrInvalid},
		{"admit by one admin and strangers", signAll(t, admitS0, a[0], s[0], s[1]), ErrInvalid},
		{"strangers take over", signAll(t, takeover, s...), ErrNotSuccessor},
		{"replay of the current", f.genesis, ErrNotSuccessor},
		{"other cluster", signAll(t, otherCluster, a[0], a[1]), ErrNotSuccessor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSuccessor(f.genesis, tt.next)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("CheckSuccessor(genesis, %s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}

	t.Run("revoked is never a member and cannot come back", func(t *testing.T) {
		if revokeM0.IsMember(f.members[0].ID()) || !revokeM0.IsRevoked(f.members[0].ID()) {
			t.Errorf("after WithRevoked: member %v, revoked %v", revokeM0.IsMember(f.members[0].ID()), revokeM0.IsRevoked(f.members[0].ID()))
		}
		if _, err := revokeM0.WithMember(f.members[0].ID(), "again"); !errors.Is(err, ErrInvalid) {
			t.Errorf("WithMember(revoked) = %v, want ErrInvalid", err)
		}
		bad := revokeM0
		bad.Members = append(bad.Members, Member{ID: f.members[0].ID(), Name: "x"})
		bad.normalize()
		if _, err := bad.Body(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Body(member also revoked) = %v, want ErrInvalid", err)
		}
	})
	t.Run("a removed admin cannot change the next version alone", func(t *testing.T) {
		// Admins 1 and 2 revoke admin 0 (threshold drops to... stays 2 of 2).
		v2 := signAll(t, next(f.genesis.WithRevoked(a[0].ID())), a[1], a[2])
		if err := CheckSuccessor(f.genesis, v2); err != nil {
			t.Fatalf("CheckSuccessor(v2) = %v", err)
		}
		v3 := signAll(t, next(v2.WithMember(s[0].ID(), "evil")), a[0], a[1])
		if err := CheckSuccessor(v2, v3); err == nil {
			t.Errorf("CheckSuccessor(v2, signed by the removed admin and one current) = nil, want an error")
		}
	})
}

// FuzzParse checks that Parse never panics, that what it accepts encodes
// to the same bytes, and that parsing those again gives the same document.
func FuzzParse(f *testing.F) {
	fx := newFixture(f, 4)
	good, err := fx.genesis.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:headerSize])
	if b, err := os.ReadFile(filepath.Join("testdata", "document_v1.hex")); err == nil {
		raw, _ := hex.DecodeString(strings.TrimSpace(string(b)))
		f.Add(raw)
	}
	f.Add([]byte("OGCL\x01"))
	f.Add([]byte("OGCL\x02"))
	if v2, err := newEconFixture(f, 7).econ.Encode(); err == nil {
		f.Add(v2)
		f.Add(v2[:len(v2)-1])
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "document_v2.hex")); err == nil {
		raw, _ := hex.DecodeString(strings.TrimSpace(string(b)))
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%x) = %v, want ErrInvalid", in, err)
			}
			return
		}
		enc, err := d.Encode()
		if err != nil {
			t.Fatalf("Encode(Parse(%x)) = %v", in, err)
		}
		if !bytes.Equal(enc, in) {
			t.Fatalf("Encode(Parse(%x)) = %x, want the input", in, enc)
		}
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("Parse(Encode(Parse(x))) = %v", err)
		}
		if diff := cmp.Diff(d, again); diff != "" {
			t.Fatalf("Parse is not stable (-first +second):\n%s", diff)
		}
	})
}
