package radio

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/offgrid-net/offgrid/identity"
)

// FrameType is the kind of a frame.
type FrameType uint8

// The frame types.
const (
	// FrameBeacon announces a node: its endpoint, name and gossip port.
	FrameBeacon FrameType = 1
	// FramePing asks the receiver to answer with a FramePong carrying the
	// same nonce.
	FramePing FrameType = 2
	// FramePong answers a FramePing.
	FramePong FrameType = 3
)

// String returns the type's name, for logs.
func (t FrameType) String() string {
	switch t {
	case FrameBeacon:
		return "beacon"
	case FramePing:
		return "ping"
	case FramePong:
		return "pong"
	}
	return fmt.Sprintf("FrameType(%d)", uint8(t))
}

// MaxFrame is the largest frame on the air in bytes, including any line
// encoding.
const MaxFrame = 220

// FrameDomain is the signature domain of frames.
const FrameDomain = "offgrid/frame/v1"

// FrameVersion is the version byte of the frames this package writes and
// reads.
const FrameVersion = 1

// MaxEndpoint is the longest beacon endpoint in bytes.
const MaxEndpoint = 64

// MaxName is the longest beacon name in bytes.
const MaxName = 24

// Sizes of the fixed parts of a frame (see the package comment).
const (
	headerSize = 11 + ed25519.PublicKeySize // version, type, flags, epoch, counter, key
	sigSize    = ed25519.SignatureSize
	nonceSize  = 4
	// MinFrame is the size of the smallest valid frame (a ping or pong).
	MinFrame = headerSize + nonceSize + sigSize
)

// flagActive is the beacon flag bit for Frame.Active.
const flagActive = 0x01

// Errors of DecodeFrame, EncodeFrame, the line encoding and Receiver.
var (
	// ErrMalformed reports bytes that are not a well-formed frame or line.
	ErrMalformed = errors.New("malformed frame")
	// ErrBadSignature reports a well-formed frame whose signature does not
	// verify.
	ErrBadSignature = errors.New("bad frame signature")
	// ErrReplay reports a frame whose (epoch, counter) is not newer than the
	// last one accepted from its sender.
	ErrReplay = errors.New("replayed frame")
	// ErrTooLarge reports a frame or line longer than MaxFrame (or than a
	// link's MTU).
	ErrTooLarge = errors.New("frame too large")
	// ErrSelf reports a frame that the receiving node sent itself.
	ErrSelf = errors.New("frame from self")
	// ErrNoFrame reports a packet that carries no frame (Packet.Data is
	// nil, as for a BLE advertisement of an endpoint).
	ErrNoFrame = errors.New("packet carries no frame")
)

// Frame is a decoded, verified frame.
type Frame struct {
	// Type is the frame's kind; it says which payload fields are used.
	Type FrameType
	// Sender is the node ID of the Ed25519 key in the frame. EncodeFrame
	// sets it from the signing keys.
	Sender identity.NodeID
	// Epoch is the sender's boot epoch: a persisted count of its starts (a
	// Raspberry Pi has no clock battery, so frames carry no time).
	Epoch uint32
	// Counter numbers the sender's frames within Epoch; it increases.
	Counter uint32

	// Endpoint is a beacon's API URL, for example "http://10.0.0.5:8081":
	// at most MaxEndpoint bytes of printable ASCII, possibly empty.
	Endpoint string
	// Name is a beacon's human-readable node name: at most MaxName bytes of
	// UTF-8 without control characters.
	Name string
	// Gossip is a beacon's memberlist port on the endpoint's host; 0 means
	// none.
	Gossip uint16
	// Active is a beacon's flag that the node takes part in storage and
	// compute (as opposed to only relaying or observing).
	Active bool

	// Nonce is a ping's number, echoed by the pong that answers it.
	Nonce uint32
}

// EncodeFrame returns f signed with k. It sets the sender from k, whatever
// f.Sender says. It refuses an unknown type, payload fields that the type
// does not use (so that decoding gives back f), and strings that are too
// long or not valid.
func EncodeFrame(k *identity.Keys, f Frame) ([]byte, error) {
	if k == nil {
		return nil, errors.New("encode frame: no keys")
	}
	var flags byte
	var payloadSize int
	switch f.Type {
	case FrameBeacon:
		if f.Nonce != 0 {
			return nil, errors.New("encode beacon: nonce set")
		}
		if err := checkEndpoint(f.Endpoint); err != nil {
			return nil, fmt.Errorf("encode beacon: %w", err)
		}
		if err := checkName(f.Name); err != nil {
			return nil, fmt.Errorf("encode beacon: %w", err)
		}
		if f.Active {
			flags |= flagActive
		}
		payloadSize = 1 + len(f.Endpoint) + 1 + len(f.Name) + 2
	case FramePing, FramePong:
		if f.Endpoint != "" || f.Name != "" || f.Gossip != 0 || f.Active {
			return nil, fmt.Errorf("encode %v: beacon fields set", f.Type)
		}
		payloadSize = nonceSize
	default:
		return nil, fmt.Errorf("encode frame: unknown type %d", f.Type)
	}
	b := make([]byte, 0, headerSize+payloadSize+sigSize)
	b = append(b, FrameVersion, byte(f.Type), flags)
	b = binary.BigEndian.AppendUint32(b, f.Epoch)
	b = binary.BigEndian.AppendUint32(b, f.Counter)
	b = append(b, k.SignPublic()...)
	switch f.Type {
	case FrameBeacon:
		b = append(b, byte(len(f.Endpoint)))
		b = append(b, f.Endpoint...)
		b = append(b, byte(len(f.Name)))
		b = append(b, f.Name...)
		b = binary.BigEndian.AppendUint16(b, f.Gossip)
	default:
		b = binary.BigEndian.AppendUint32(b, f.Nonce)
	}
	return append(b, k.Sign(FrameDomain, b)...), nil
}

// DecodeFrame parses and verifies an encoded frame. It is strict (see the
// package comment) and never panics. Errors wrap ErrMalformed (a frame
// longer than MaxFrame also wraps ErrTooLarge) or ErrBadSignature.
func DecodeFrame(b []byte) (Frame, error) {
	f, pub, err := parseFrame(b)
	if err != nil {
		return Frame{}, err
	}
	if err := verifyFrame(pub, b); err != nil {
		return Frame{}, err
	}
	f.Sender = identity.NodeIDFromPublicKey(pub)
	return f, nil
}

// verifyFrame checks the signature at the end of b, a frame that parseFrame
// accepted, against pub.
func verifyFrame(pub ed25519.PublicKey, b []byte) error {
	signed, sig := b[:len(b)-sigSize], b[len(b)-sigSize:]
	if !identity.Verify(pub, FrameDomain, signed, sig) {
		return ErrBadSignature
	}
	return nil
}

// parseFrame checks everything about b except its signature and returns its
// fields (without Sender) and the sender's public key, which aliases b.
func parseFrame(b []byte) (Frame, ed25519.PublicKey, error) {
	var f Frame
	if len(b) > MaxFrame {
		return f, nil, fmt.Errorf("%w: %w: %d bytes, max %d", ErrMalformed, ErrTooLarge, len(b), MaxFrame)
	}
	if len(b) < MinFrame {
		return f, nil, fmt.Errorf("%w: %d bytes, min %d", ErrMalformed, len(b), MinFrame)
	}
	if b[0] != FrameVersion {
		return f, nil, fmt.Errorf("%w: unsupported version %d", ErrMalformed, b[0])
	}
	f.Type = FrameType(b[1])
	flags := b[2]
	f.Epoch = binary.BigEndian.Uint32(b[3:])
	f.Counter = binary.BigEndian.Uint32(b[7:])
	pub := ed25519.PublicKey(b[11:headerSize])
	p := b[headerSize : len(b)-sigSize] // payload
	switch f.Type {
	case FrameBeacon:
		if flags&^flagActive != 0 {
			return f, nil, fmt.Errorf("%w: beacon flags %#02x", ErrMalformed, flags)
		}
		f.Active = flags&flagActive != 0
		endpoint, rest, ok := cutString(p, MaxEndpoint)
		if !ok {
			return f, nil, fmt.Errorf("%w: beacon endpoint length", ErrMalformed)
		}
		name, rest, ok := cutString(rest, MaxName)
		if !ok {
			return f, nil, fmt.Errorf("%w: beacon name length", ErrMalformed)
		}
		if len(rest) != 2 {
			return f, nil, fmt.Errorf("%w: beacon has %d bytes after the name, want 2", ErrMalformed, len(rest))
		}
		if err := checkEndpoint(endpoint); err != nil {
			return f, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if err := checkName(name); err != nil {
			return f, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		f.Endpoint, f.Name = string(endpoint), string(name)
		f.Gossip = binary.BigEndian.Uint16(rest)
	case FramePing, FramePong:
		if flags != 0 {
			return f, nil, fmt.Errorf("%w: %v flags %#02x", ErrMalformed, f.Type, flags)
		}
		if len(p) != nonceSize {
			return f, nil, fmt.Errorf("%w: %v payload is %d bytes, want %d", ErrMalformed, f.Type, len(p), nonceSize)
		}
		f.Nonce = binary.BigEndian.Uint32(p)
	default:
		return f, nil, fmt.Errorf("%w: unknown type %d", ErrMalformed, b[1])
	}
	return f, pub, nil
}

// cutString splits a length-prefixed string of at most maxLen bytes off p.
func cutString(p []byte, maxLen int) (s, rest []byte, ok bool) {
	if len(p) < 1 {
		return nil, nil, false
	}
	n := int(p[0])
	if n > maxLen || len(p) < 1+n {
		return nil, nil, false
	}
	return p[1 : 1+n], p[1+n:], true
}

// checkEndpoint accepts at most MaxEndpoint bytes of printable ASCII.
func checkEndpoint[S string | []byte](s S) error {
	if len(s) > MaxEndpoint {
		return fmt.Errorf("endpoint is %d bytes, max %d", len(s), MaxEndpoint)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return fmt.Errorf("endpoint byte %d is not printable ASCII", i)
		}
	}
	return nil
}

// checkName accepts at most MaxName bytes of UTF-8 without control
// characters.
func checkName[S string | []byte](s S) error {
	if len(s) > MaxName {
		return fmt.Errorf("name is %d bytes, max %d", len(s), MaxName)
	}
	b := []byte(s)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return errors.New("name is not valid UTF-8")
		}
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return errors.New("name contains a control character")
		}
		b = b[n:]
	}
	return nil
}
