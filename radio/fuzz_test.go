package radio

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/offgrid-net/offgrid/identity"
)

func FuzzDecodeFrame(f *testing.F) {
	k := testKeys(f, 1)
	for _, fr := range []Frame{
		{Type: FrameBeacon, Epoch: 1, Counter: 2, Endpoint: "http://192.168.100.200:8081", Name: "village-hall", Gossip: 7946, Active: true},
		{Type: FrameBeacon},
		{Type: FramePing, Epoch: 3, Counter: 4, Nonce: 5},
		{Type: FramePong, Epoch: 3, Counter: 5, Nonce: 5},
	} {
		f.Add(mustEncode(f, k, fr))
	}
	f.Add([]byte{})
	f.Add(make([]byte, MaxFrame+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		got, err := DecodeFrame(b)
		if !bytes.Equal(in, b) {
			t.Fatal("DecodeFrame modified its input")
		}
		got2, err2 := DecodeFrame(b)
		if !reflect.DeepEqual(got, got2) || (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("DecodeFrame(%x) not deterministic: %+v, %v then %+v, %v", b, got, err, got2, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("DecodeFrame(%x) = %v, want ErrMalformed or ErrBadSignature", b, err)
			}
			if got != (Frame{}) {
				t.Fatalf("DecodeFrame(%x) = %+v with error %v, want a zero frame", b, got, err)
			}
			return
		}
		pub, perr := got.Sender.PublicKey()
		if perr != nil || !identity.Verify(pub, FrameDomain, b[:len(b)-sigSize], b[len(b)-sigSize:]) {
			t.Fatalf("DecodeFrame(%x) accepted a frame whose sender %s does not verify (%v)", b, got.Sender, perr)
		}
		if len(b) > MaxFrame || len(got.Endpoint) > MaxEndpoint || len(got.Name) > MaxName || !utf8.ValidString(got.Name) {
			t.Fatalf("DecodeFrame(%x) accepted out-of-range %+v", b, got)
		}
		if got.Type != FrameBeacon && (got.Endpoint != "" || got.Name != "" || got.Gossip != 0 || got.Active) {
			t.Fatalf("DecodeFrame(%x) = %+v: beacon fields in a %v", b, got, got.Type)
		}
	})
}

func FuzzDecodeLine(f *testing.F) {
	k := testKeys(f, 1)
	line, err := EncodeLine(mustEncode(f, k, Frame{Type: FramePing, Nonce: 1}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(line)
	f.Add([]byte("AAAA\n"))
	f.Add([]byte("AB\r\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		frame, err := DecodeLine(line)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("DecodeLine(%q) = %v, want ErrMalformed or ErrTooLarge", line, err)
			}
			return
		}
		// Strictness: a decoded line is the one encoding of its frame.
		again, err := EncodeLine(frame)
		if err != nil {
			t.Fatalf("EncodeLine(DecodeLine(%q)): %v", line, err)
		}
		want := bytes.TrimSuffix(line, []byte("\n"))
		if !bytes.Equal(again[:len(again)-1], want) {
			t.Fatalf("EncodeLine(DecodeLine(%q)) = %q", line, again)
		}
	})
}
