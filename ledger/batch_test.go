package ledger

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBatchRoundTrip(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	for _, n := range []int{1, 2, 3, 7, 8, 33} {
		receipts := signedRun(t, k, 10, n)
		b, err := NewBatch(k.ID(), receipts)
		if err != nil {
			t.Fatalf("NewBatch(%d receipts) = %v", n, err)
		}
		if b.Size != n || b.FromSeq != 10 || b.ToSeq != uint64(10+n-1) {
			t.Errorf("NewBatch(%d receipts) = size %d seqs %d..%d, want %d, 10..%d", n, b.Size, b.FromSeq, b.ToSeq, n, 10+n-1)
		}
		if err := VerifyBatch(b); err != nil {
			t.Errorf("VerifyBatch(NewBatch(%d receipts)) = %v, want nil", n, err)
		}
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeBatch(js)
		if err != nil {
			t.Fatalf("DecodeBatch(%d items) = %v", n, err)
		}
		if diff := cmp.Diff(b, got); diff != "" {
			t.Errorf("DecodeBatch(json.Marshal(batch)) mismatch (-want +got):\n%s", diff)
		}
		if err := VerifyBatch(got); err != nil {
			t.Errorf("VerifyBatch(decoded %d items) = %v, want nil", n, err)
		}
	}
}

func TestNewBatchRejects(t *testing.T) {
	t.Parallel()
	k, other := testKeys(t, 1), testKeys(t, 2)
	run := signedRun(t, k, 1, 4)
	unsigned := sampleReceipt()
	unsigned.Seq = 5
	tests := []struct {
		name     string
		receipts []Receipt
		want     error
	}{
		{"empty", nil, ErrInvalidBatch},
		{"foreign receipt", append(run[:3:3], signedRun(t, other, 4, 1)...), ErrInvalidBatch},
		{"gap", []Receipt{run[0], run[2]}, ErrInvalidBatch},
		{"descending", []Receipt{run[1], run[0]}, ErrInvalidBatch},
		{"duplicate", []Receipt{run[0], run[0]}, ErrInvalidBatch},
		{"unsigned", append(run[:4:4], unsigned), ErrInvalidBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewBatch(k.ID(), tt.receipts); !errors.Is(err, tt.want) {
				t.Errorf("NewBatch(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestVerifyBatchRejects(t *testing.T) {
	t.Parallel()
	k, other := testKeys(t, 1), testKeys(t, 2)
	good, err := NewBatch(k.ID(), signedRun(t, k, 1, 5))
	if err != nil {
		t.Fatal(err)
	}
	// clone deep-copies the parts the cases change.
	clone := func() Batch {
		b := good
		b.Items = append([]BatchItem(nil), good.Items...)
		for i := range b.Items {
			b.Items[i].Proof = append([]string(nil), good.Items[i].Proof...)
		}
		return b
	}
	tests := []struct {
		name     string
		mutate   func(*Batch)
		want     error
		wantItem string // the error must name this item, if set
	}{
		{"units changed", func(b *Batch) { b.Items[2].Receipt.Units++ }, ErrBadSignature, "item 2"},
		{"resigned by other key", func(b *Batch) {
			b.Items[3].Receipt = mustSign(t, other, b.Items[3].Receipt)
		}, ErrInvalidBatch, "item 3"},
		{"whole batch by other key", func(b *Batch) {
			b.NodeID = other.ID()
			for i := range b.Items {
				b.Items[i].Receipt = mustSign(t, other, b.Items[i].Receipt)
			}
		}, ErrBadProof, "item 0"},
		{"node id only", func(b *Batch) {
			b.NodeID = other.ID()
			for i := range b.Items {
				b.Items[i].Receipt.NodeID = other.ID()
			}
		}, ErrBadSignature, "item 0"},
		{"proof hash flipped", func(b *Batch) {
			p := []byte(b.Items[4].Proof[0])
			p[0] ^= 1
			b.Items[4].Proof[0] = string(p)
		}, ErrBadProof, "item 4"},
		{"proof not hex", func(b *Batch) { b.Items[1].Proof[0] = strings.Repeat("g", 64) }, ErrBadProof, "item 1"},
		{"proof too short", func(b *Batch) { b.Items[1].Proof = b.Items[1].Proof[1:] }, ErrBadProof, "item 1"},
		{"proofs swapped", func(b *Batch) { b.Items[0].Proof, b.Items[1].Proof = b.Items[1].Proof, b.Items[0].Proof }, ErrBadProof, "item 0"},
		{"root changed", func(b *Batch) { b.Root = strings.Repeat("0", 64) }, ErrBadProof, "item 0"},
		{"root upper case", func(b *Batch) { b.Root = strings.ToUpper(b.Root) }, ErrInvalidBatch, ""},
		{"size too big", func(b *Batch) { b.Size++ }, ErrInvalidBatch, ""},
		{"item dropped", func(b *Batch) {
			b.Items = b.Items[:4]
			b.Size, b.ToSeq = 4, 4
		}, ErrBadProof, "item 0"},
		{"leaf index", func(b *Batch) { b.Items[2].LeafIndex = 3 }, ErrInvalidBatch, "item 2"},
		{"items swapped", func(b *Batch) { b.Items[1], b.Items[2] = b.Items[2], b.Items[1] }, ErrInvalidBatch, "item 1"},
		{"seq range", func(b *Batch) { b.ToSeq = 6 }, ErrInvalidBatch, ""},
		{"seq shifted", func(b *Batch) { b.FromSeq, b.ToSeq = 2, 6 }, ErrInvalidBatch, "item 0"},
		{"version", func(b *Batch) { b.Version = "0.2" }, ErrInvalidBatch, ""},
		{"no items", func(b *Batch) { b.Items, b.Size = nil, 0 }, ErrInvalidBatch, ""},
		{"invalid receipt", func(b *Batch) { b.Items[1].Receipt.ResourceType = "gold" }, ErrInvalidReceipt, "item 1"},
		{"bad node id", func(b *Batch) { b.NodeID = "did:key:zzz" }, ErrInvalidBatch, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := clone()
			tt.mutate(&b)
			err := VerifyBatch(b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyBatch(%s) = %v, want %v", tt.name, err, tt.want)
			}
			if tt.wantItem != "" && !strings.Contains(err.Error(), tt.wantItem+" ") {
				t.Errorf("VerifyBatch(%s) = %q, want it to name %q", tt.name, err, tt.wantItem)
			}
		})
	}
	if err := VerifyBatch(good); err != nil {
		t.Errorf("VerifyBatch(good) after the cases = %v, want nil (cases must not share state)", err)
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	b, err := NewBatch(k.ID(), signedRun(t, k, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(b)
	swap := func(old, new string) string { return strings.Replace(string(good), old, new, 1) }
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrInvalidBatch},
		{"not an object", "[]", ErrInvalidBatch},
		{"unknown field", swap(`"size":`, `"extra":true,"size":`), ErrInvalidBatch},
		{"unknown receipt field", swap(`"seq":1,`, `"seq":1,"x":1,`), ErrInvalidReceipt},
		{"trailing data", string(good) + " 1", ErrInvalidBatch},
		{"size string", swap(`"size":3`, `"size":"3"`), ErrInvalidBatch},
		{"size wrong", swap(`"size":3`, `"size":2`), ErrInvalidBatch},
		{"units number", swap(`"units":"0.001"`, `"units":1`), ErrInvalidReceipt},
		{"bad receipt", swap(`"resource_type":"compute"`, `"resource_type":"x"`), ErrInvalidReceipt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeBatch([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Errorf("DecodeBatch(%.60q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
	if _, err := DecodeBatch(make([]byte, MaxBatchJSON+1)); !errors.Is(err, ErrInvalidBatch) {
		t.Errorf("DecodeBatch(%d bytes) = %v, want ErrInvalidBatch", MaxBatchJSON+1, err)
	}
	// DecodeBatch checks structure, not signatures.
	tampered := swap(`"units":"0.001"`, `"units":"5"`)
	got, err := DecodeBatch([]byte(tampered))
	if err != nil {
		t.Fatalf("DecodeBatch(tampered units) = %v, want nil (signatures are VerifyBatch's job)", err)
	}
	if err := VerifyBatch(got); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyBatch(tampered units) = %v, want ErrBadSignature", err)
	}
}
