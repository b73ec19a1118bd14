package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
)

// testShare returns a share of a one-stripe file from owner to recipient,
// signed, and the key it carries.
func testShare(t testing.TB, owner, recipient *identity.Keys) (Share, AssetKey) {
	t.Helper()
	key, prefix, err := NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w, err := WrapKey(rand.Reader, key, prefix, recipient.BoxPublic(), "asset1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := SignShare(owner, Share{AssetID: "asset1", Name: "notes.txt", Size: 10, FileHash: strings.Repeat("ab", 32),
		Mode: "ec", K: 1, N: 2, ShardSize: 4096, Stripes: 1, Recipient: string(recipient.ID()), Key: w,
		Shards: []ShareShard{{Stripe: 0, Index: 1, Hash: strings.Repeat("cd", 32), HostID: "did:key:zhost",
			Endpoint: "http://127.0.0.1:8081"}}})
	if err != nil {
		t.Fatalf("SignShare: %v", err)
	}
	return s, key
}

func genKeys(t testing.TB) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestShareRoundTrip signs, encodes and decodes a share, and refuses
// altered, malformed and oversized ones with the right error.
func TestShareRoundTrip(t *testing.T) {
	t.Parallel()
	owner, recipient := genKeys(t), genKeys(t)
	s, key := testShare(t, owner, recipient)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeShare(b)
	if err != nil {
		t.Fatalf("DecodeShare: %v", err)
	}
	if got.Owner != string(owner.ID()) || got.Recipient != string(recipient.ID()) {
		t.Errorf("owner/recipient = %s/%s", got.Owner, got.Recipient)
	}
	k, _, err := UnwrapKey(recipient.BoxPrivate(), got.Key, got.AssetID)
	if err != nil || k != key {
		t.Errorf("the recipient cannot unwrap the key: %v", err)
	}
	if _, _, err := UnwrapKey(owner.BoxPrivate(), got.Key, got.AssetID); err == nil {
		t.Error("the owner's box key unwraps a key wrapped to the recipient")
	}

	edit := func(f func(*Share)) []byte {
		c := s
		c.Shards = append([]ShareShard{}, s.Shards...)
		f(&c)
		b, _ := json.Marshal(c)
		return b
	}
	other := genKeys(t)
	resigned, _ := SignShare(other, s)
	resignedJSON, _ := json.Marshal(resigned)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"renamed", edit(func(c *Share) { c.Name = "other.txt" }), ErrShareSignature},
		{"other recipient", edit(func(c *Share) { c.Recipient = string(other.ID()) }), ErrShareSignature},
		{"moved shard", edit(func(c *Share) { c.Shards[0].Endpoint = "http://127.0.0.1:9999" }), ErrShareSignature},
		{"claims another owner", edit(func(c *Share) { c.Owner = string(other.ID()) }), ErrShareSignature},
		{"no signature", edit(func(c *Share) { c.Signature = "" }), ErrShareSignature},
		{"signed by another node", resignedJSON, nil},
		{"version 2", edit(func(c *Share) { c.Version = 2 }), ErrBadShare},
		{"shard outside the stripes", edit(func(c *Share) { c.Shards[0].Stripe = 1 }), ErrBadShare},
		{"endpoint not http", edit(func(c *Share) { c.Shards[0].Endpoint = "file:///etc/passwd" }), ErrBadShare},
		{"bad owner", edit(func(c *Share) { c.Owner = "bob" }), ErrBadShare},
		{"k above n", edit(func(c *Share) { c.K = 3 }), ErrBadShare},
		{"unknown field", []byte(strings.Replace(string(b), `{"version"`, `{"extra":1,"version"`, 1)), ErrBadShare},
		{"trailing data", append(append([]byte{}, b...), " {}"...), ErrBadShare},
		{"too large", bytes.Repeat([]byte(" "), MaxShareJSON+1), ErrBadShare},
	}
	for _, tt := range tests {
		got, err := DecodeShare(tt.in)
		if tt.want == nil {
			// A share its signer re-signed verifies, but names the signer
			// as owner: it is that node's (useless) capability, not the
			// original owner's.
			if err != nil || got.Owner != string(other.ID()) {
				t.Errorf("%s: DecodeShare = %v, owner %s", tt.name, err, got.Owner)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: DecodeShare = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzDecodeShare feeds arbitrary bytes to the share manifest parser: it
// must never panic, and whatever it accepts must encode back to a
// manifest it accepts again.
func FuzzDecodeShare(f *testing.F) {
	owner, recipient := genKeys(f), genKeys(f)
	s, _ := testShare(f, owner, recipient)
	b, _ := json.Marshal(s)
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(hex.EncodeToString(b[:40])))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := DecodeShare(in)
		if err != nil {
			return
		}
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeShare(again); err != nil {
			t.Fatalf("accepted %q but not its re-encoding: %v", in, err)
		}
	})
}
