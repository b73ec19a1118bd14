package identity

import (
	"bytes"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// bigBase58Decode is the plain math/big decoder base58Decode replaced:
// the oracle it is checked against.
func bigBase58Decode(s string) ([]byte, bool) {
	if len(s) == 0 || len(s) > 128 {
		return nil, false
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	n := new(big.Int)
	for _, c := range []byte(s) {
		i := strings.IndexByte(base58Alphabet, c)
		if i < 0 {
			return nil, false
		}
		n.Mul(n, big.NewInt(58))
		n.Add(n, big.NewInt(int64(i)))
	}
	return append(make([]byte, zeros), n.Bytes()...), true
}

// TestBase58DecodeMatchesBigInt decodes seeded random strings (valid
// digits, leading 1s, a bad character now and then, lengths 0 to 130)
// with base58Decode and with math/big: both accept the same strings and
// give the same bytes, and encoding random bytes round-trips.
func TestBase58DecodeMatchesBigInt(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(58, 5))
	for i := range 20000 {
		var b strings.Builder
		n := rng.IntN(131)
		ones := rng.IntN(4)
		for j := range n {
			switch {
			case j < ones:
				b.WriteByte('1')
			case rng.IntN(500) == 0:
				b.WriteByte("0OIl+/ "[rng.IntN(7)])
			default:
				b.WriteByte(base58Alphabet[rng.IntN(58)])
			}
		}
		s := b.String()
		got, err := base58Decode(s)
		want, ok := bigBase58Decode(s)
		if (err == nil) != ok || !bytes.Equal(got, want) {
			t.Fatalf("case %d: base58Decode(%q) = %x, %v; math/big gives %x, ok %v", i, s, got, err, want, ok)
		}
		raw := make([]byte, rng.IntN(80))
		for j := range raw {
			if j >= rng.IntN(3) {
				raw[j] = byte(rng.Uint32())
			}
		}
		if back, err := base58Decode(base58Encode(raw)); len(raw) > 0 && (err != nil || !bytes.Equal(back, raw)) {
			t.Fatalf("case %d: %x encodes to %q, which decodes to %x, %v", i, raw, base58Encode(raw), back, err)
		}
	}
}
