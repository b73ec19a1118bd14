package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// vectorFile is the layout of testdata/receipts_v1.json.
type vectorFile struct {
	Comment   string   `json:"comment"`
	SeedHex   string   `json:"ed25519_seed"`
	NodeID    string   `json:"node_id"`
	VerifyKey string   `json:"verify_key"`
	Domain    string   `json:"domain"`
	Vectors   []vector `json:"vectors"`
	BatchRoot string   `json:"batch_root"`
}

type vector struct {
	Receipt      json.RawMessage `json:"receipt"`
	CanonicalHex string          `json:"canonical_hex"`
	Signature    string          `json:"signature"`
	LeafHash     string          `json:"leaf_hash"`
}

// goldenReceipts are the signed receipts of the test vectors.
func goldenReceipts(t testing.TB) []Receipt {
	t.Helper()
	k := goldenKeys(t)
	in := []Receipt{
		{
			Version: ReceiptVersion, ClusterID: "valley-1", ResourceType: ResourceCompute, JobID: "job-0001",
			Units:    100_000,
			Metrics:  map[string]float64{"cpu_seconds": 12.5, "mem_mb": 256, "wall_ms": 4012},
			Proofs:   []string{"blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
			Seq:      1,
			IssuedAt: 1_735_689_600_000,
		},
		{
			Version: ReceiptVersion, ClusterID: "valley-1", ResourceType: ResourceStorage, JobID: "asset-7/shard-3",
			Units:    2_750_000,
			Metrics:  map[string]float64{"bytes": 1048576, "hours": 0.25},
			CIDs:     []string{"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},
			Seq:      2,
			IssuedAt: 1_735_689_660_000,
		},
		{
			Version: ReceiptVersion, ResourceType: ResourceCompute, JobID: "j",
			Seq: 3, IssuedAt: -1,
		},
	}
	out := make([]Receipt, len(in))
	for i, r := range in {
		out[i] = mustSign(t, k, r)
	}
	return out
}

// checkGolden compares got with testdata/name, or rewrites the file when
// -update is set.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-file +code); if the change is intended, run go test -update:\n%s", path, diff)
	}
}

func marshalIndent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestGolden checks that the code still produces the committed vectors,
// byte for byte. A diff here means signed receipts changed meaning: bump the
// encoding version instead of updating the files.
func TestGolden(t *testing.T) {
	k := goldenKeys(t)
	receipts := goldenReceipts(t)
	vf := vectorFile{
		Comment:   "Receipt test vectors. Keys come from identity.Generate reading ed25519_seed (the RFC 8032 test 1 secret key). signature = Ed25519(domain || 0x00 || canonical); leaf_hash = SHA-256(0x00 || canonical || raw signature). batch_root is the RFC 6962 root over the three leaves.",
		SeedHex:   goldenSeed[:64],
		NodeID:    string(k.ID()),
		VerifyKey: hex.EncodeToString(k.SignPublic()),
		Domain:    ReceiptDomain,
	}
	var leaves [][32]byte
	for _, r := range receipts {
		canon, err := r.CanonicalBytes()
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := r.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
		js, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		vf.Vectors = append(vf.Vectors, vector{
			Receipt:      js,
			CanonicalHex: hex.EncodeToString(canon),
			Signature:    r.Signature,
			LeafHash:     hex.EncodeToString(leaf[:]),
		})
	}
	root := MerkleRoot(leaves)
	vf.BatchRoot = hex.EncodeToString(root[:])
	checkGolden(t, "receipts_v1.json", marshalIndent(t, vf))

	batch, err := NewBatch(k.ID(), receipts)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "batch_v1.json", marshalIndent(t, batch))

	// The tampered batch claims more units in item 1 and keeps everything
	// else, signature and proofs included.
	tampered := batch
	tampered.Items = append([]BatchItem(nil), batch.Items...)
	tampered.Items[1].Receipt.Units = 27_500_000
	checkGolden(t, "batch_v1_tampered.json", marshalIndent(t, tampered))
}

// TestGoldenFiles checks the committed files on their own terms, with as
// little of this package as possible: ed25519 and sha256 directly.
func TestGoldenFiles(t *testing.T) {
	if *update {
		t.Skip("files are being rewritten")
	}
	b, err := os.ReadFile(filepath.Join("testdata", "receipts_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	// RFC 8032 test 1: this seed's public key.
	if want := "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"; vf.VerifyKey != want {
		t.Errorf("verify_key = %s, want the RFC 8032 test 1 key %s", vf.VerifyKey, want)
	}
	pub, _ := hex.DecodeString(vf.VerifyKey)
	var leaves [][32]byte
	for i, v := range vf.Vectors {
		r, err := DecodeReceipt(v.Receipt)
		if err != nil {
			t.Fatalf("vector %d: DecodeReceipt(%s) = %v", i, v.Receipt, err)
		}
		if err := r.Verify(); err != nil {
			t.Errorf("vector %d: Verify() = %v, want nil", i, err)
		}
		canon, _ := hex.DecodeString(v.CanonicalHex)
		got, err := r.CanonicalBytes()
		if err != nil || !bytes.Equal(got, canon) {
			t.Errorf("vector %d: CanonicalBytes() = %x, %v, want %x", i, got, err, canon)
		}
		sig, _ := hex.DecodeString(v.Signature)
		msg := append([]byte(vf.Domain+"\x00"), canon...)
		if !ed25519.Verify(pub, msg, sig) {
			t.Errorf("vector %d: ed25519.Verify(domain || 0x00 || canonical) = false", i)
		}
		leaf := LeafHash(append(canon, sig...))
		if hex.EncodeToString(leaf[:]) != v.LeafHash {
			t.Errorf("vector %d: leaf hash = %x, want %s", i, leaf, v.LeafHash)
		}
		leaves = append(leaves, leaf)
	}
	if root := MerkleRoot(leaves); hex.EncodeToString(root[:]) != vf.BatchRoot {
		t.Errorf("MerkleRoot(vector leaves) = %x, want %s", root, vf.BatchRoot)
	}

	good, err := os.ReadFile(filepath.Join("testdata", "batch_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := DecodeBatch(good)
	if err != nil {
		t.Fatalf("DecodeBatch(batch_v1.json) = %v", err)
	}
	if err := VerifyBatch(batch); err != nil {
		t.Errorf("VerifyBatch(batch_v1.json) = %v, want nil", err)
	}
	if batch.Root != vf.BatchRoot {
		t.Errorf("batch_v1.json root = %s, want %s", batch.Root, vf.BatchRoot)
	}

	bad, err := os.ReadFile(filepath.Join("testdata", "batch_v1_tampered.json"))
	if err != nil {
		t.Fatal(err)
	}
	tampered, err := DecodeBatch(bad)
	if err != nil {
		t.Fatalf("DecodeBatch(batch_v1_tampered.json) = %v, want nil (it is well formed)", err)
	}
	if err := VerifyBatch(tampered); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyBatch(batch_v1_tampered.json) = %v, want ErrBadSignature", err)
	}
}
