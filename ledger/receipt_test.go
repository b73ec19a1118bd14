package ledger

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestMarshalJSON(t *testing.T) {
	t.Parallel()
	r := Receipt{Version: ReceiptVersion, ResourceType: ResourceStorage, JobID: "j", Units: 100_000, Seq: 3, IssuedAt: 7}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"0.1","cluster_id":"","resource_type":"storage","job_id":"j","units":"0.1","metrics":{},` +
		`"proofs":[],"cids":[],"seq":3,"issued_at":7,"node_id":"","verify_key":"","signature":""}`
	if string(got) != want {
		t.Errorf("json.Marshal(%+v) = %s, want %s", r, got, want)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	in := mustSign(t, k, sampleReceipt())
	in.Metrics["neg_zero"] = math.Copysign(0, -1)
	in = mustSign(t, k, in)
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeReceipt(b)
	if err != nil {
		t.Fatalf("DecodeReceipt(%s) = %v", b, err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("DecodeReceipt(%s) mismatch (-want +got):\n%s", b, diff)
	}
	if math.Signbit(got.Metrics["neg_zero"]) != true {
		t.Errorf("DecodeReceipt(%s) lost the sign of -0", b)
	}
	if err := got.Verify(); err != nil {
		t.Errorf("Verify() after JSON round trip = %v, want nil", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	long := func(n int) string { return strings.Repeat("x", n) }
	manyMetrics := map[string]float64{}
	for i := range MaxMetrics + 1 {
		manyMetrics[fmt.Sprintf("m%d", i)] = 1
	}
	manyList := make([]string, MaxListLen+1)
	tests := []struct {
		name   string
		mutate func(*Receipt)
		ok     bool
	}{
		{"valid", func(*Receipt) {}, true},
		{"signed", func(r *Receipt) { *r = mustSign(t, k, *r) }, true},
		{"storage", func(r *Receipt) { r.ResourceType = ResourceStorage }, true},
		{"empty cluster", func(r *Receipt) { r.ClusterID = "" }, true},
		{"nil lists and metrics", func(r *Receipt) { r.Metrics, r.Proofs, r.CIDs = nil, nil, nil }, true},
		{"max lengths", func(r *Receipt) {
			r.JobID, r.ClusterID = long(MaxIDLen), long(MaxIDLen)
			r.Proofs = []string{long(MaxListEntryLen)}
			r.Metrics = map[string]float64{long(MaxMetricKeyLen): math.MaxFloat64}
		}, true},
		{"zero units", func(r *Receipt) { r.Units = 0 }, true},
		{"bad version", func(r *Receipt) { r.Version = "0.2" }, false},
		{"empty version", func(r *Receipt) { r.Version = "" }, false},
		{"bad resource", func(r *Receipt) { r.ResourceType = "bandwidth" }, false},
		{"empty job", func(r *Receipt) { r.JobID = "" }, false},
		{"long job", func(r *Receipt) { r.JobID = long(MaxIDLen + 1) }, false},
		{"long cluster", func(r *Receipt) { r.ClusterID = long(MaxIDLen + 1) }, false},
		{"invalid utf8 job", func(r *Receipt) { r.JobID = "\xff" }, false},
		{"negative units", func(r *Receipt) { r.Units = -1 }, false},
		{"too many metrics", func(r *Receipt) { r.Metrics = manyMetrics }, false},
		{"empty metric key", func(r *Receipt) { r.Metrics = map[string]float64{"": 1} }, false},
		{"long metric key", func(r *Receipt) { r.Metrics = map[string]float64{long(MaxMetricKeyLen + 1): 1} }, false},
		{"NaN metric", func(r *Receipt) { r.Metrics = map[string]float64{"x": math.NaN()} }, false},
		{"Inf metric", func(r *Receipt) { r.Metrics = map[string]float64{"x": math.Inf(-1)} }, false},
		{"too many proofs", func(r *Receipt) { r.Proofs = manyList }, false},
		{"too many cids", func(r *Receipt) { r.CIDs = manyList }, false},
		{"long cid", func(r *Receipt) { r.CIDs = []string{long(MaxListEntryLen + 1)} }, false},
		{"invalid utf8 proof", func(r *Receipt) { r.Proofs = []string{"a\xc0"} }, false},
		{"bad node id", func(r *Receipt) { r.NodeID = "did:key:nope" }, false},
		{"upper-case verify key", func(r *Receipt) {
			*r = mustSign(t, k, *r)
			r.VerifyKey = strings.ToUpper(r.VerifyKey)
		}, false},
		{"short signature", func(r *Receipt) { r.Signature = "abcd" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReceipt()
			tt.mutate(&r)
			err := r.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidReceipt) {
				t.Errorf("Validate() = %v, want ErrInvalidReceipt", err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	k, other := testKeys(t, 1), testKeys(t, 2)
	good := mustSign(t, k, sampleReceipt())
	if err := good.Verify(); err != nil {
		t.Fatalf("Verify() of a fresh signature = %v, want nil", err)
	}
	byOther := mustSign(t, other, sampleReceipt())
	tests := []struct {
		name   string
		mutate func(*Receipt)
		want   error
	}{
		{"unsigned", func(r *Receipt) { r.Signature = "" }, ErrBadSignature},
		{"units", func(r *Receipt) { r.Units++ }, ErrBadSignature},
		{"job", func(r *Receipt) { r.JobID = "job-43" }, ErrBadSignature},
		{"cluster", func(r *Receipt) { r.ClusterID = "" }, ErrBadSignature},
		{"resource", func(r *Receipt) { r.ResourceType = ResourceStorage }, ErrBadSignature},
		{"metric value", func(r *Receipt) { r.Metrics = map[string]float64{"cpu_seconds": 12.6, "mem_mb": 256} }, ErrBadSignature},
		{"metric added", func(r *Receipt) { r.Metrics = map[string]float64{"cpu_seconds": 12.5, "mem_mb": 256, "x": 0} }, ErrBadSignature},
		{"proof moved to cids", func(r *Receipt) { r.Proofs, r.CIDs = nil, []string{"blake3:8f4e", "bafkreia"} }, ErrBadSignature},
		{"seq", func(r *Receipt) { r.Seq = 2 }, ErrBadSignature},
		{"issued_at", func(r *Receipt) { r.IssuedAt-- }, ErrBadSignature},
		{"other node id", func(r *Receipt) { r.NodeID = other.ID() }, ErrBadSignature},
		{"other key and id", func(r *Receipt) { r.NodeID, r.VerifyKey = byOther.NodeID, byOther.VerifyKey }, ErrBadSignature},
		{"other signature", func(r *Receipt) { r.Signature = byOther.Signature }, ErrBadSignature},
		{"flipped signature bit", func(r *Receipt) {
			sig, _ := hex.DecodeString(r.Signature)
			sig[10] ^= 1
			r.Signature = hex.EncodeToString(sig)
		}, ErrBadSignature},
		{"invalid field", func(r *Receipt) { r.Units = -5 }, ErrInvalidReceipt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.mutate(&r)
			if err := r.Verify(); !errors.Is(err, tt.want) {
				t.Errorf("Verify() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCanonicalBytes(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	r := mustSign(t, k, sampleReceipt())
	b, err := r.CanonicalBytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("OGRC\x01\x00\x00\x00\x030.1")) {
		t.Errorf("CanonicalBytes() = %x..., want prefix OGRC 01 then str(\"0.1\")", b[:12])
	}
	pub := k.SignPublic()
	if !bytes.HasSuffix(b, pub) {
		t.Errorf("CanonicalBytes() does not end with the raw verify key")
	}
	// The signature is not covered.
	r2 := r
	r2.Signature = ""
	if b2, _ := r2.CanonicalBytes(); !bytes.Equal(b, b2) {
		t.Errorf("CanonicalBytes() depends on Signature")
	}
	// Map order never matters.
	for range 20 {
		r3 := r
		r3.Metrics = map[string]float64{"mem_mb": 256, "cpu_seconds": 12.5}
		if b3, _ := r3.CanonicalBytes(); !bytes.Equal(b, b3) {
			t.Fatalf("CanonicalBytes() depends on map order")
		}
	}
	// No receipt is canonical without a verify key.
	if _, err := sampleReceipt().CanonicalBytes(); !errors.Is(err, ErrInvalidReceipt) {
		t.Errorf("CanonicalBytes() of an unsigned receipt = %v, want ErrInvalidReceipt", err)
	}
}

func TestCanonicalBytesUnambiguous(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	pairs := []struct {
		name string
		a, b func(*Receipt)
	}{
		{"field boundary", func(r *Receipt) { r.ClusterID, r.JobID = "ab", "c" }, func(r *Receipt) { r.ClusterID, r.JobID = "a", "bc" }},
		{"list split", func(r *Receipt) { r.Proofs = []string{"ab"} }, func(r *Receipt) { r.Proofs = []string{"a", "b"} }},
		{"list vs list", func(r *Receipt) { r.Proofs, r.CIDs = []string{"a"}, nil }, func(r *Receipt) { r.Proofs, r.CIDs = nil, []string{"a"} }},
		{"zero sign", func(r *Receipt) { r.Metrics = map[string]float64{"x": 0} }, func(r *Receipt) { r.Metrics = map[string]float64{"x": math.Copysign(0, -1)} }},
		{"empty entry", func(r *Receipt) { r.CIDs = nil }, func(r *Receipt) { r.CIDs = []string{""} }},
	}
	for _, tt := range pairs {
		t.Run(tt.name, func(t *testing.T) {
			a, b := sampleReceipt(), sampleReceipt()
			tt.a(&a)
			tt.b(&b)
			ab, err := mustSign(t, k, a).CanonicalBytes()
			if err != nil {
				t.Fatal(err)
			}
			bb, err := mustSign(t, k, b).CanonicalBytes()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(ab, bb) {
				t.Errorf("CanonicalBytes() is %x for two different receipts", ab)
			}
		})
	}
}

func TestSignReceiptCopies(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	in := sampleReceipt()
	s := mustSign(t, k, in)
	in.Metrics["cpu_seconds"] = 99
	in.Proofs[0] = "changed"
	in.CIDs[0] = "changed"
	if err := s.Verify(); err != nil {
		t.Errorf("Verify() after changing the unsigned input = %v, want nil", err)
	}
	if s.NodeID != k.ID() || s.VerifyKey != hex.EncodeToString(k.SignPublic()) {
		t.Errorf("SignReceipt() set node %s key %s, want %s %x", s.NodeID, s.VerifyKey, k.ID(), k.SignPublic())
	}
	bad := sampleReceipt()
	bad.JobID = ""
	if _, err := SignReceipt(k, bad); !errors.Is(err, ErrInvalidReceipt) {
		t.Errorf("SignReceipt(empty job) = %v, want ErrInvalidReceipt", err)
	}
}

func TestDecodeReceiptRejects(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	good, err := json.Marshal(mustSign(t, k, sampleReceipt()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeReceipt(good); err != nil {
		t.Fatalf("DecodeReceipt(%s) = %v, want nil", good, err)
	}
	swap := func(old, new string) string { return strings.Replace(string(good), old, new, 1) }
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"null", "null"},
		{"array", "[]"},
		{"not json", "{"},
		{"unknown field", swap(`"seq":`, `"extra":1,"seq":`)},
		{"trailing object", string(good) + "{}"},
		{"trailing garbage", string(good) + "x"},
		{"units number", swap(`"units":"0.1"`, `"units":0.1`)},
		{"units missing", swap(`"units":"0.1",`, ``)},
		{"units negative", swap(`"units":"0.1"`, `"units":"-0.1"`)},
		{"units too precise", swap(`"units":"0.1"`, `"units":"0.0000001"`)},
		{"units exponent", swap(`"units":"0.1"`, `"units":"1e3"`)},
		{"seq negative", swap(`"seq":1`, `"seq":-1`)},
		{"seq float", swap(`"seq":1`, `"seq":1.5`)},
		{"metric string", swap(`"mem_mb":256`, `"mem_mb":"256"`)},
		{"metric huge", swap(`"mem_mb":256`, `"mem_mb":1e999`)},
		{"bad version", swap(`"version":"0.1"`, `"version":"1.0"`)},
		{"too big", string(good[:len(good)-1]) + `,"pad":"` + strings.Repeat(" ", MaxReceiptJSON) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeReceipt([]byte(tt.in)); !errors.Is(err, ErrInvalidReceipt) {
				t.Errorf("DecodeReceipt(%.80q) = %v, want ErrInvalidReceipt", tt.in, err)
			}
		})
	}
}

func TestDecodeReceiptNilEqualsEmpty(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	r := sampleReceipt()
	r.Metrics, r.Proofs, r.CIDs = nil, nil, nil
	r = mustSign(t, k, r)
	b, _ := json.Marshal(r)
	got, err := DecodeReceipt(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("DecodeReceipt(%s) mismatch (-want +got):\n%s", b, diff)
	}
	if err := got.Verify(); err != nil {
		t.Errorf("Verify() = %v, want nil (nil and empty lists encode the same)", err)
	}
}
