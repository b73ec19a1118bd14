package radio

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReceiver(t *testing.T) {
	t.Parallel()
	self, peer := testKeys(t, 1), testKeys(t, 2)
	r := NewReceiver(self.ID(), 16)
	beacon := mustEncode(t, peer, Frame{Type: FrameBeacon, Epoch: 1, Counter: 1, Endpoint: "http://127.0.0.1:8081", Name: "peer"})
	next := mustEncode(t, peer, Frame{Type: FramePing, Epoch: 1, Counter: 2, Nonce: 9})
	forged := bytes.Clone(next)
	forged[len(forged)-10] ^= 0x80
	steps := []struct {
		name string
		data []byte
		want error
	}{
		{"beacon", beacon, nil},
		{"replay", beacon, ErrReplay},
		{"forged", forged, ErrBadSignature},
		{"ping", next, nil},
		{"own frame", mustEncode(t, self, Frame{Type: FramePing}), ErrSelf},
		{"truncated", next[:50], ErrMalformed},
		{"garbage", []byte("hello, world"), ErrMalformed},
		{"oversized", make([]byte, MaxFrame+1), ErrTooLarge},
		{"no frame", nil, ErrNoFrame},
	}
	for _, s := range steps {
		f, err := r.Accept(Packet{Data: s.data, Via: ViaUDP})
		if s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
			t.Errorf("%s: Accept() = %+v, %v, want %v", s.name, f, err, s.want)
		}
		if err == nil && f.Sender != peer.ID() {
			t.Errorf("%s: Accept().Sender = %s, want %s", s.name, f.Sender, peer.ID())
		}
	}
	want := StatsSnapshot{Received: 8, Accepted: 2, Replayed: 1, BadSignature: 1, Self: 1, Malformed: 2, Oversized: 1}
	got := r.Stats()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
	if got.Dropped() != 6 {
		t.Errorf("Dropped() = %d, want 6", got.Dropped())
	}
}

func TestReceiverBadSelf(t *testing.T) {
	t.Parallel()
	r := NewReceiver("not a node id", 0)
	k := testKeys(t, 1)
	if _, err := r.Accept(Packet{Data: mustEncode(t, k, Frame{Type: FramePing})}); err != nil {
		t.Errorf("Accept() = %v, want nil", err)
	}
}
