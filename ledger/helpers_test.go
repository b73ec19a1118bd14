package ledger

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
)

// testKeys returns keys derived from a fixed seed: the Ed25519 seed is 32
// bytes of b. Ed25519 signing is deterministic, so signatures are too.
func testKeys(t testing.TB, b byte) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{b}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// goldenSeed is the fixed key material of the test vectors in testdata/.
const goldenSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60" +
	"0000000000000000000000000000000000000000000000000000000000000000"

func goldenKeys(t testing.TB) *identity.Keys {
	t.Helper()
	seed, err := hex.DecodeString(goldenSeed)
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.Generate(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sampleReceipt returns a valid, unsigned receipt.
func sampleReceipt() Receipt {
	return Receipt{
		Version:      ReceiptVersion,
		ClusterID:    "valley-1",
		ResourceType: ResourceCompute,
		JobID:        "job-42",
		Units:        100_000,
		Metrics:      map[string]float64{"cpu_seconds": 12.5, "mem_mb": 256},
		Proofs:       []string{"blake3:8f4e"},
		CIDs:         []string{"bafkreia"},
		Seq:          1,
		IssuedAt:     1_700_000_000_000,
	}
}

func mustSign(t testing.TB, k *identity.Keys, r Receipt) Receipt {
	t.Helper()
	s, err := SignReceipt(k, r)
	if err != nil {
		t.Fatalf("SignReceipt(%+v) = %v", r, err)
	}
	return s
}

// signedRun returns n receipts signed by k with seqs first, first+1, ...
func signedRun(t testing.TB, k *identity.Keys, first uint64, n int) []Receipt {
	t.Helper()
	out := make([]Receipt, n)
	for i := range out {
		r := sampleReceipt()
		r.Seq = first + uint64(i)
		r.Units = int64(i+1) * 1000
		r.JobID = "job-" + string(rune('a'+i%26))
		out[i] = mustSign(t, k, r)
	}
	return out
}
