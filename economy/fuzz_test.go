package economy

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzSeeds returns a valid transaction, certificate, vote and report.
func fuzzSeeds(f *testing.F) (Tx, Certificate, Report) {
	w := newWorld(f, 9, []uint64{1, 2, 1, 1}, 2, 1000)
	tx := w.transfer(f, w.wallets[0], string(w.wallets[1].ID()), 10, 1)
	tx.Meta = []byte("job 7")
	tx, err := SignTx(tx, w.wallets[0])
	if err != nil {
		f.Fatal(err)
	}
	c := Certificate{Tx: tx}
	for _, k := range w.witnesses {
		c.Votes = append(c.Votes, signVote(k, tx.Hash(), tx.Epoch, 1))
	}
	r := Report{Src: tx.Src, Nonce: 1, Epoch: 1, Round: 2, Witness: w.witnesses[0].ID(), Locked: tx.Hash()}
	r.Sig = w.witnesses[0].Sign(ReportDomain, r.body())
	return tx, c, r
}

// FuzzDecodeTx: DecodeTx never panics, refuses with ErrInvalid, and what
// it accepts encodes to the same bytes.
func FuzzDecodeTx(f *testing.F) {
	tx, c, _ := fuzzSeeds(f)
	issuance := Tx{Cluster: tx.Cluster, Epoch: 1, Src: System, Dst: tx.Dst, Amount: 5, Nonce: 1, Kind: KindIssuance}
	for _, b := range [][]byte{tx.Encode(), issuance.Encode(), c.Tx.Encode()[:40], []byte(txMagic + "\x01")} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := DecodeTx(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeTx = %v, want ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(got.Encode(), in) {
			t.Fatalf("Encode(DecodeTx(%x)) = %x", in, got.Encode())
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("DecodeTx accepted a transaction Validate refuses: %v", err)
		}
	})
}

// FuzzDecodeCertificate: never panics, refuses with ErrInvalid, and what
// it accepts encodes to the same bytes and decodes to the same value.
func FuzzDecodeCertificate(f *testing.F) {
	_, c, _ := fuzzSeeds(f)
	enc := c.Encode()
	f.Add(enc)
	f.Add(enc[:len(enc)-1])
	f.Add(Certificate{Tx: c.Tx}.Encode())
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := DecodeCertificate(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeCertificate = %v, want ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(got.Encode(), in) {
			t.Fatalf("Encode(DecodeCertificate(%x)) differs", in)
		}
		again, err := DecodeCertificate(got.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("not stable (-first +second):\n%s", diff)
		}
	})
}

// FuzzDecodeVote and FuzzDecodeReport: never panic, refuse with
// ErrInvalid, and accept only what encodes to the same bytes.
func FuzzDecodeVote(f *testing.F) {
	_, c, _ := fuzzSeeds(f)
	f.Add(c.Votes[0].Encode())
	f.Add(c.Votes[1].Encode()[:10])
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := DecodeVote(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeVote = %v, want ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(got.Encode(), in) {
			t.Fatalf("Encode(DecodeVote(%x)) differs", in)
		}
	})
}

func FuzzDecodeReport(f *testing.F) {
	_, _, r := fuzzSeeds(f)
	f.Add(r.Encode())
	f.Add(r.Encode()[:20])
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := DecodeReport(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeReport = %v, want ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(got.Encode(), in) {
			t.Fatalf("Encode(DecodeReport(%x)) differs", in)
		}
	})
}
