package radio

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/offgrid-net/offgrid/identity"
)

// Stats counts what a Receiver did with the packets it was given, for
// /metrics. The zero value is ready; it is safe for concurrent use.
type Stats struct {
	// Received counts packets that carried a frame.
	Received atomic.Uint64
	// Accepted counts frames that were returned to the caller.
	Accepted atomic.Uint64
	// Malformed counts frames refused by parsing (ErrMalformed), except
	// oversized ones.
	Malformed atomic.Uint64
	// BadSignature counts frames whose signature did not verify.
	BadSignature atomic.Uint64
	// Replayed counts frames refused by the replay filter.
	Replayed atomic.Uint64
	// Oversized counts frames longer than MaxFrame.
	Oversized atomic.Uint64
	// Self counts frames the node sent itself (heard back on a loop).
	Self atomic.Uint64
}

// StatsSnapshot is a copy of Stats at one moment. Each field is the value of
// the Stats counter of the same name.
type StatsSnapshot struct {
	Received, Accepted, Malformed, BadSignature, Replayed, Oversized, Self uint64
}

// Snapshot returns the counters' values. Each is read atomically; the set
// is not one atomic cut.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Received:     s.Received.Load(),
		Accepted:     s.Accepted.Load(),
		Malformed:    s.Malformed.Load(),
		BadSignature: s.BadSignature.Load(),
		Replayed:     s.Replayed.Load(),
		Oversized:    s.Oversized.Load(),
		Self:         s.Self.Load(),
	}
}

// Dropped returns the number of frames refused for any reason.
func (s StatsSnapshot) Dropped() uint64 {
	return s.Malformed + s.BadSignature + s.Replayed + s.Oversized + s.Self
}

// Receiver turns packets from any link into verified, fresh frames:
// DecodeFrame, then a ReplayFilter, counting drops in Stats. It drops the
// node's own frames before verifying them. It is safe for concurrent use;
// one Receiver should serve all of a node's links, so that a frame heard on
// two links is accepted once.
type Receiver struct {
	self    ed25519.PublicKey // nil if the node ID was not valid
	replays *ReplayFilter
	stats   Stats
}

// NewReceiver returns a receiver for the node self that remembers at most
// maxSenders senders (see NewReplayFilter).
func NewReceiver(self identity.NodeID, maxSenders int) *Receiver {
	pub, err := self.PublicKey()
	if err != nil {
		pub = nil // matches no frame
	}
	return &Receiver{self: pub, replays: NewReplayFilter(maxSenders)}
}

// Accept decodes and verifies p.Data and checks it against the replay
// filter. Errors wrap ErrNoFrame (p.Data is nil; not counted), ErrTooLarge,
// ErrMalformed, ErrBadSignature, ErrSelf or ErrReplay.
func (r *Receiver) Accept(p Packet) (Frame, error) {
	if p.Data == nil {
		return Frame{}, ErrNoFrame
	}
	r.stats.Received.Add(1)
	f, pub, err := parseFrame(p.Data)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			r.stats.Oversized.Add(1)
		} else {
			r.stats.Malformed.Add(1)
		}
		return Frame{}, err
	}
	if r.self != nil && bytes.Equal(pub, r.self) {
		r.stats.Self.Add(1)
		return Frame{}, ErrSelf
	}
	if err := verifyFrame(pub, p.Data); err != nil {
		r.stats.BadSignature.Add(1)
		return Frame{}, err
	}
	f.Sender = identity.NodeIDFromPublicKey(pub)
	if err := r.replays.Check(f); err != nil {
		r.stats.Replayed.Add(1)
		return Frame{}, fmt.Errorf("from %s: %w", f.Sender, err)
	}
	r.stats.Accepted.Add(1)
	return f, nil
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() StatsSnapshot { return r.stats.Snapshot() }
