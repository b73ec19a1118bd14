package economy

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeSettleMeta checks that DecodeSettleMeta never panics, refuses
// with ErrInvalid, and accepts only what EncodeSettleMeta writes back byte
// for byte: a witness and a consumer never disagree on which receipts a
// settlement pays.
func FuzzDecodeSettleMeta(f *testing.F) {
	f.Add(EncodeSettleMeta([][32]byte{{1}, {2}, {3}}))
	f.Add(EncodeSettleMeta(make([][32]byte, MaxSettleReceipts)))
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0xff, 0xff})
	f.Add(append([]byte{1, 0, 2}, bytes.Repeat([]byte{7}, 64)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		ids, err := DecodeSettleMeta(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeSettleMeta(%x) = %v, want ErrInvalid", in, err)
			}
			return
		}
		if out := EncodeSettleMeta(ids); !bytes.Equal(out, in) {
			t.Fatalf("EncodeSettleMeta(DecodeSettleMeta(%x)) = %x", in, out)
		}
	})
}
