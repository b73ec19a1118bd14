package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzDecodeReceipt checks that DecodeReceipt never panics, that everything
// it accepts encodes again, and that decode -> encode -> decode is stable
// (same receipt, same JSON, same canonical bytes, same verdict from Verify).
func FuzzDecodeReceipt(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "receipts_v1.json"))
	if err != nil {
		f.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		f.Fatal(err)
	}
	for _, v := range vf.Vectors {
		f.Add([]byte(v.Receipt))
	}
	b, err = os.ReadFile(filepath.Join("testdata", "receipts_v2.json"))
	if err != nil {
		f.Fatal(err)
	}
	var v2 v2File
	if err := json.Unmarshal(b, &v2); err != nil {
		f.Fatal(err)
	}
	for _, v := range v2.Vectors {
		f.Add([]byte(v.Receipt))
	}
	f.Add([]byte(`{"version":"0.2","resource_type":"compute","job_id":"x","units":"1","consumer_id":"did:key:z6Mk","unit_price":"-0.5","acceptance":"00"}`))
	f.Add([]byte(`{"version":"0.1","resource_type":"storage","job_id":"x","units":"1.5","metrics":{"a":-0,"b":1e308},"proofs":[""],"cids":null,"seq":18446744073709551615,"issued_at":-9223372036854775808}`))
	f.Add([]byte(`{"version":"0.1","resource_type":"compute","job_id":"\ud800","units":"0"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := DecodeReceipt(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidReceipt) {
				t.Fatalf("DecodeReceipt(%q) = %v, want an ErrInvalidReceipt", in, err)
			}
			return
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("json.Marshal(DecodeReceipt(%q)) = %v", in, err)
		}
		r2, err := DecodeReceipt(enc)
		if err != nil {
			t.Fatalf("DecodeReceipt(%s) = %v after a round trip of %q", enc, err, in)
		}
		if diff := cmp.Diff(r, r2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("DecodeReceipt(encode(DecodeReceipt(%q))) mismatch (-first +second):\n%s", in, diff)
		}
		enc2, err := json.Marshal(r2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding is not stable: %s then %s (%v)", enc, enc2, err)
		}
		c1, err1 := r.CanonicalBytes()
		c2, err2 := r2.CanonicalBytes()
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(c1, c2) {
			t.Fatalf("CanonicalBytes() = %x, %v before and %x, %v after a round trip", c1, err1, c2, err2)
		}
		ver1, ver2 := r.Verify(), r2.Verify()
		if (ver1 == nil) != (ver2 == nil) {
			t.Fatalf("Verify() = %v before and %v after a round trip", ver1, ver2)
		}
		id1, err1 := r.ID()
		id2, err2 := r2.ID()
		if (err1 == nil) != (err2 == nil) || id1 != id2 {
			t.Fatalf("ID() = %x, %v before and %x, %v after a round trip", id1, err1, id2, err2)
		}
		if _, err := r.Leaf(); err != nil && !errors.Is(err, ErrInvalidReceipt) {
			t.Fatalf("Leaf() = %v, want nil or ErrInvalidReceipt", err)
		}
	})
}

// FuzzDecodeBatch checks that DecodeBatch and VerifyBatch never panic and
// that VerifyBatch only accepts what DecodeBatch accepts.
func FuzzDecodeBatch(f *testing.F) {
	for _, name := range []string{"batch_v1.json", "batch_v1_tampered.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":"0.1","items":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := DecodeBatch(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidBatch) && !errors.Is(err, ErrInvalidReceipt) && !errors.Is(err, ErrBadProof) {
				t.Fatalf("DecodeBatch(%q) = %v, want a package error", in, err)
			}
			return
		}
		if err := VerifyBatch(b); err != nil {
			return
		}
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("json.Marshal(verified batch) = %v", err)
		}
		b2, err := DecodeBatch(enc)
		if err != nil {
			t.Fatalf("DecodeBatch(re-encoded verified batch) = %v", err)
		}
		if err := VerifyBatch(b2); err != nil {
			t.Fatalf("VerifyBatch(re-encoded verified batch) = %v", err)
		}
	})
}

// FuzzDecodeBlock checks that DecodeBlock never panics, refuses with
// ErrInvalidBlock, and that what it accepts survives a round trip with the
// same name and the same verdict from VerifyBlock.
func FuzzDecodeBlock(f *testing.F) {
	k := testKeys(f, 1)
	b0, err := NewBlock(k, "valley-1", 1, nil, signedRun(f, k, 1, 3))
	if err != nil {
		f.Fatal(err)
	}
	b1, err := NewBlock(k, "valley-1", 2, []BlockName{b0.Name()}, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range []Block{b0, b1} {
		js, err := json.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	f.Add([]byte(`{"version":"0.1","cluster_id":"x","author":"did:key:z","height":1,"parents":[],"root":"","receipts":[],"signature":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := DecodeBlock(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidBlock) {
				t.Fatalf("DecodeBlock(%q) = %v, want an ErrInvalidBlock", in, err)
			}
			return
		}
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("json.Marshal(DecodeBlock(%q)) = %v", in, err)
		}
		b2, err := DecodeBlock(enc)
		if err != nil {
			t.Fatalf("DecodeBlock(%s) = %v after a round trip of %q", enc, err, in)
		}
		if b.Name() != b2.Name() {
			t.Fatalf("name changed in a round trip of %q", in)
		}
		if e1, e2 := VerifyBlock(b), VerifyBlock(b2); (e1 == nil) != (e2 == nil) {
			t.Fatalf("VerifyBlock verdicts differ after a round trip: %v, %v", e1, e2)
		}
	})
}
