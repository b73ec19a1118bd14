package identity

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/internal/canon"
)

// RequestSignatureHeader is the HTTP header that carries a request signature.
const RequestSignatureHeader = "Offgrid-Signature"

// RequestDomain is the signature domain of request signatures.
const RequestDomain = "offgrid/request/v1"

// DefaultReplayWindow is the window NewReplayGuard uses when given a window
// below 1: how many seqs behind the newest one a request may arrive.
const DefaultReplayWindow = 1024

// DefaultReplaySenders is the sender bound NewReplayGuard uses when given a
// maxSenders below 1.
const DefaultReplaySenders = 1024

// maxRequestSignatureLen bounds the header a receiver will parse. A valid
// header is about 270 bytes.
const maxRequestSignatureLen = 512

// maxDecimalDigits is the number of digits of the largest uint64.
const maxDecimalDigits = 20

// ErrBadRequestSignature reports a request signature header that is missing
// or malformed, a signature that does not verify, or a body that does not
// match the signed digest.
var ErrBadRequestSignature = errors.New("bad request signature")

// ErrReplay reports a signed request that was already accepted, whose seq is
// too far behind the sender's newest one, or whose epoch is older than the
// sender's newest.
var ErrReplay = errors.New("replayed request")

// ErrTooManySenders reports a signed request from a sender a ReplayGuard has
// no room for: it is full, and it never forgets a sender to make room.
var ErrTooManySenders = errors.New("too many senders")

// sigEncoding is the encoding of the s= field: base64url without padding,
// rejecting non-zero trailing bits so that every signature has one encoding.
var sigEncoding = base64.RawURLEncoding.Strict()

// sigFieldLen is the length of an encoded Ed25519 signature.
var sigFieldLen = sigEncoding.EncodedLen(64)

// BodyDigest returns the lower-case hex BLAKE3-256 of body, the d= field of a
// request signature. Callers that stream a body hash it with BLAKE3 as it is
// read and hex-encode the 32-byte sum instead.
func BodyDigest(body []byte) string {
	sum := blake3.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// RequestSigner signs a node's outgoing requests. It is safe for concurrent
// use: each Sign takes the next seq from an atomic counter that starts at 1.
type RequestSigner struct {
	keys  *Keys
	epoch uint64
	seq   atomic.Uint64 // last seq used
}

// NewRequestSigner returns a signer that signs with k in epoch. The caller
// must use a new, larger epoch after every restart (persist it), or the
// receivers' replay guards refuse its requests.
func NewRequestSigner(k *Keys, epoch uint64) *RequestSigner {
	return &RequestSigner{keys: k, epoch: epoch}
}

// Sign sets the request signature header on req, replacing any there.
// bodyDigest is the BodyDigest of the body req will send (of nil when it has
// none); the caller supplies it so that a streamed body need not be buffered.
// Sign signs req.Host, or req.URL.Host when req.Host is empty, which is the
// host the http.Client sends.
func (s *RequestSigner) Sign(req *http.Request, bodyDigest string) error {
	if req == nil || req.URL == nil {
		return errors.New("sign request: no URL")
	}
	if !validDigest(bodyDigest) {
		return fmt.Errorf("sign request: body digest %q is not 64 lower-case hex digits", bodyDigest)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet // what http.Client sends
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	seq := s.seq.Add(1)
	msg, err := requestMessage(method, host, req.URL.RequestURI(), s.epoch, seq, bodyDigest)
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	sr := SignedRequest{
		ID:     s.keys.ID(),
		Epoch:  s.epoch,
		Seq:    seq,
		Digest: bodyDigest,
		Sig:    s.keys.Sign(RequestDomain, msg),
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set(RequestSignatureHeader, sr.String())
	return nil
}

// SignedRequest is a parsed request signature header.
type SignedRequest struct {
	// ID is the sender.
	ID NodeID
	// Epoch is the sender's epoch, raised on each start.
	Epoch uint64
	// Seq is the request's number within Epoch.
	Seq uint64
	// Digest is the lower-case hex BLAKE3-256 of the body the sender signed.
	Digest string
	// Sig is the 64-byte Ed25519 signature.
	Sig []byte
}

// String formats r as a header value. For any r that ParseRequestSignature
// returned, it gives back the parsed string exactly.
func (r SignedRequest) String() string {
	b := make([]byte, 0, 300)
	b = append(b, "v1;id="...)
	b = append(b, r.ID...)
	b = append(b, ";e="...)
	b = strconv.AppendUint(b, r.Epoch, 10)
	b = append(b, ";n="...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, ";d="...)
	b = append(b, r.Digest...)
	b = append(b, ";s="...)
	b = sigEncoding.AppendEncode(b, r.Sig)
	return string(b)
}

// CheckDigest reports whether digest, the BodyDigest of the body the
// receiver read (or the hex BLAKE3-256 it computed while streaming), is the
// digest the sender signed. A mismatch is an ErrBadRequestSignature.
func (r SignedRequest) CheckDigest(digest string) error {
	if len(digest) != len(r.Digest) || subtle.ConstantTimeCompare([]byte(digest), []byte(r.Digest)) != 1 {
		return fmt.Errorf("%w: body digest mismatch", ErrBadRequestSignature)
	}
	return nil
}

// ParseRequestSignature parses a request signature header value. It is
// strict, so that every accepted header has exactly one form: the fields
// must appear in the documented order, numbers are decimal without sign or
// leading zeros, the digest is 64 lower-case hex digits, the signature is 64
// bytes in unpadded base64url, and the whole value is at most 512 bytes.
// Errors wrap ErrBadRequestSignature.
func ParseRequestSignature(header string) (SignedRequest, error) {
	var r SignedRequest
	if len(header) > maxRequestSignatureLen {
		return r, fmt.Errorf("%w: header longer than %d bytes", ErrBadRequestSignature, maxRequestSignatureLen)
	}
	fields := strings.Split(header, ";")
	if len(fields) != 6 {
		return r, fmt.Errorf("%w: want 6 fields, got %d", ErrBadRequestSignature, len(fields))
	}
	if fields[0] != "v1" {
		return r, fmt.Errorf("%w: unsupported version", ErrBadRequestSignature)
	}
	var vals [5]string
	for i, key := range [5]string{"id=", "e=", "n=", "d=", "s="} {
		v, ok := strings.CutPrefix(fields[i+1], key)
		if !ok {
			return r, fmt.Errorf("%w: field %d is not %q", ErrBadRequestSignature, i+1, key)
		}
		vals[i] = v
	}
	id := NodeID(vals[0])
	if _, err := id.PublicKey(); err != nil {
		return r, fmt.Errorf("%w: id: %v", ErrBadRequestSignature, err)
	}
	epoch, err := parseDecimal(vals[1])
	if err != nil {
		return r, fmt.Errorf("%w: epoch: %v", ErrBadRequestSignature, err)
	}
	seq, err := parseDecimal(vals[2])
	if err != nil {
		return r, fmt.Errorf("%w: seq: %v", ErrBadRequestSignature, err)
	}
	if !validDigest(vals[3]) {
		return r, fmt.Errorf("%w: digest is not 64 lower-case hex digits", ErrBadRequestSignature)
	}
	sig, err := parseSig(vals[4])
	if err != nil {
		return r, fmt.Errorf("%w: sig: %v", ErrBadRequestSignature, err)
	}
	return SignedRequest{ID: id, Epoch: epoch, Seq: seq, Digest: vals[3], Sig: sig}, nil
}

// VerifyRequest parses req's signature header and checks the signature over
// req.Method, req.Host, req.URL.RequestURI() and the header's epoch, seq and
// digest. It does not read the body: the caller must also check the body
// against the digest (SignedRequest.CheckDigest) and the (epoch, seq)
// against a ReplayGuard. Errors wrap ErrBadRequestSignature.
func VerifyRequest(req *http.Request) (SignedRequest, error) {
	if req == nil || req.URL == nil {
		return SignedRequest{}, fmt.Errorf("%w: no URL", ErrBadRequestSignature)
	}
	vals := req.Header.Values(RequestSignatureHeader)
	if len(vals) != 1 {
		return SignedRequest{}, fmt.Errorf("%w: want one %s header, got %d", ErrBadRequestSignature, RequestSignatureHeader, len(vals))
	}
	r, err := ParseRequestSignature(vals[0])
	if err != nil {
		return SignedRequest{}, err
	}
	pub, err := r.ID.PublicKey()
	if err != nil { // checked by ParseRequestSignature
		return SignedRequest{}, fmt.Errorf("%w: id: %v", ErrBadRequestSignature, err)
	}
	msg, err := requestMessage(req.Method, req.Host, req.URL.RequestURI(), r.Epoch, r.Seq, r.Digest)
	if err != nil {
		return SignedRequest{}, fmt.Errorf("%w: %v", ErrBadRequestSignature, err)
	}
	if !Verify(pub, RequestDomain, msg, r.Sig) {
		return SignedRequest{}, fmt.Errorf("%w: signature does not verify", ErrBadRequestSignature)
	}
	return r, nil
}

// requestMessage builds method "\n" host "\n" uri "\n" epoch "\n" seq "\n"
// digest. It refuses fields that contain a newline, so that the encoding is
// unambiguous.
func requestMessage(method, host, uri string, epoch, seq uint64, digest string) ([]byte, error) {
	for _, f := range [...]struct{ name, v string }{{"method", method}, {"host", host}, {"request URI", uri}} {
		if strings.IndexByte(f.v, '\n') >= 0 {
			return nil, fmt.Errorf("%s contains a newline", f.name)
		}
	}
	b := make([]byte, 0, len(method)+len(host)+len(uri)+len(digest)+2*maxDecimalDigits+5)
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, host...)
	b = append(b, '\n')
	b = append(b, uri...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, epoch, 10)
	b = append(b, '\n')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '\n')
	b = append(b, digest...)
	return b, nil
}

// parseDecimal parses a canonical decimal uint64: 1 to 20 digits, no sign,
// no leading zero unless the number is 0.
func parseDecimal(s string) (uint64, error) {
	if len(s) == 0 || len(s) > maxDecimalDigits {
		return 0, errors.New("want 1 to 20 decimal digits")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("leading zero")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// validDigest reports whether s is 64 lower-case hex digits.
func validDigest(s string) bool { return len(s) == 64 && canon.IsLowerHex(s) }

// parseSig decodes an unpadded base64url Ed25519 signature. It checks the
// alphabet itself because the decoder skips '\r' and '\n'.
func parseSig(s string) ([]byte, error) {
	if len(s) != sigFieldLen {
		return nil, fmt.Errorf("want %d characters, got %d", sigFieldLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return nil, errors.New("not unpadded base64url")
		}
	}
	sig, err := sigEncoding.DecodeString(s)
	if err != nil || len(sig) != 64 {
		return nil, errors.New("not unpadded base64url of 64 bytes")
	}
	return sig, nil
}

// ReplayGuard refuses signed requests it has already accepted. For each
// sender it remembers the newest epoch and, within it, which of the last
// window seqs it has accepted, so requests may arrive out of order. It never
// forgets a sender, because a forgotten sender's old requests would be
// accepted again: once it remembers maxSenders senders it refuses requests
// from new ones (ErrTooManySenders). With a save function it survives
// restarts: Check saves a sender's new state before accepting the request,
// and Restore loads what was saved. It is safe for concurrent use.
type ReplayGuard struct {
	window     uint64
	maxSenders int
	save       func(context.Context, ReplayState) error

	// mu guards senders; Check holds it while saving, so that states are
	// saved in the order they are accepted.
	mu      sync.Mutex
	senders map[NodeID]*replayState
}

// ReplayState is what a ReplayGuard remembers about one sender, in the form
// its owner stores: Seen is the bitmap of a window of Window seqs, 8 bytes
// per 64 seqs, each group a little-endian uint64; bit seq%window%64 of group
// seq%window/64 is set when seq (Top-Window < seq <= Top) was accepted. No
// bit set means no seq of Epoch was accepted yet.
type ReplayState struct {
	ID     NodeID
	Epoch  uint64
	Top    uint64
	Window uint64
	Seen   []byte
}

// replayState is what a ReplayGuard remembers about one sender.
type replayState struct {
	epoch   uint64
	started bool     // whether any seq of epoch was accepted
	top     uint64   // newest accepted seq, if started
	seen    []uint64 // bit seq%window is set when seq (top-window < seq <= top) was accepted
}

// NewReplayGuard returns a guard with a window of window seqs per sender
// that remembers at most maxSenders senders. A window below 1 means
// DefaultReplayWindow, a maxSenders below 1 means DefaultReplaySenders. The
// guard uses about window/8 bytes per sender. save, when not nil, is called
// with a sender's new state before each request is accepted; when it fails,
// the request is refused and the guard is unchanged.
func NewReplayGuard(window, maxSenders int, save func(context.Context, ReplayState) error) *ReplayGuard {
	if window < 1 {
		window = DefaultReplayWindow
	}
	if maxSenders < 1 {
		maxSenders = DefaultReplaySenders
	}
	return &ReplayGuard{
		window:     uint64(window),
		maxSenders: maxSenders,
		save:       save,
		senders:    make(map[NodeID]*replayState),
	}
}

// Restore loads a sender's saved state, typically at start. It holds to the
// guard's rule never to forget: it loads every state given, even beyond
// maxSenders (the guard then refuses new senders). A state saved with
// another window, or whose bitmap has the wrong length, restores as if every
// seq up to Top had been seen: it may refuse a request the saved state would
// have accepted, never the reverse.
func (g *ReplayGuard) Restore(st ReplayState) {
	rs := &replayState{epoch: st.Epoch, top: st.Top, seen: make([]uint64, g.words())}
	if st.Window == g.window && len(st.Seen) == 8*len(rs.seen) {
		for i := range rs.seen {
			rs.seen[i] = binary.LittleEndian.Uint64(st.Seen[8*i:])
		}
		rs.started = slices.ContainsFunc(rs.seen, func(w uint64) bool { return w != 0 })
	} else {
		for i := range rs.seen {
			rs.seen[i] = ^uint64(0)
		}
		rs.started = true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.senders[st.ID] = rs
}

// Len returns the number of senders the guard remembers.
func (g *ReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.senders)
}

// words is the length of a sender's bitmap in uint64s.
func (g *ReplayGuard) words() int { return int((g.window + 63) / 64) }

// Check accepts each (r.ID, r.Epoch, r.Seq) once. It returns ErrReplay for a
// repeat, for a seq window or more behind the sender's newest in the epoch,
// and for an epoch older than the sender's newest, and ErrTooManySenders
// for a new sender when the guard is full. A newer epoch starts a new, empty
// window. Call Check only after VerifyRequest succeeded, or anyone could
// move a sender's window (or fill the guard).
func (g *ReplayGuard) Check(ctx context.Context, r SignedRequest) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, known := g.senders[r.ID]
	if !known {
		if len(g.senders) >= g.maxSenders {
			return fmt.Errorf("%w: this node keeps replay state for at most %d senders and never forgets one", ErrTooManySenders, g.maxSenders)
		}
		st = &replayState{epoch: r.Epoch, seen: make([]uint64, g.words())}
	}
	switch {
	case r.Epoch < st.epoch:
		return fmt.Errorf("%w: epoch %d older than %d", ErrReplay, r.Epoch, st.epoch)
	case r.Epoch == st.epoch && st.started && r.Seq <= st.top:
		if st.top-r.Seq >= g.window {
			return fmt.Errorf("%w: seq %d below window (newest %d)", ErrReplay, r.Seq, st.top)
		}
		if st.seen[r.Seq%g.window/64]&(1<<(r.Seq%g.window%64)) != 0 {
			return fmt.Errorf("%w: seq %d already seen", ErrReplay, r.Seq)
		}
	}
	next := st
	if g.save != nil {
		// Change a copy, so that a failed save leaves the guard as it was.
		next = &replayState{epoch: st.epoch, started: st.started, top: st.top, seen: slices.Clone(st.seen)}
	}
	g.acceptLocked(next, r.Epoch, r.Seq)
	if g.save != nil {
		if err := g.save(ctx, g.export(r.ID, next)); err != nil {
			return fmt.Errorf("save replay state: %w", err)
		}
		*st = *next
	}
	if !known {
		g.senders[r.ID] = st
	}
	return nil
}

// acceptLocked records (epoch, seq), which the caller checked is new, in st.
func (g *ReplayGuard) acceptLocked(st *replayState, epoch, seq uint64) {
	if epoch > st.epoch {
		st.epoch = epoch
		st.started = false
		clear(st.seen)
	}
	switch {
	case !st.started:
		st.started = true
		clear(st.seen)
		st.top = seq
	case seq > st.top:
		// Slots of seqs top+1 .. seq-1 now stand for seqs that were not
		// seen; clear what they held (seqs that fall out of the window).
		if seq-st.top > g.window {
			clear(st.seen)
		} else {
			for s := st.top + 1; s < seq; s++ {
				st.seen[s%g.window/64] &^= 1 << (s % g.window % 64)
			}
		}
		st.top = seq
	}
	st.seen[seq%g.window/64] |= 1 << (seq % g.window % 64)
}

// export returns st in the form ReplayState documents.
func (g *ReplayGuard) export(id NodeID, st *replayState) ReplayState {
	seen := make([]byte, 8*len(st.seen))
	for i, w := range st.seen {
		binary.LittleEndian.PutUint64(seen[8*i:], w)
	}
	return ReplayState{ID: id, Epoch: st.epoch, Top: st.top, Window: g.window, Seen: seen}
}

// Editor returns a function that signs a request with bodyDigest, in the
// shape HTTP clients take as a request editor (the generated API client's
// RequestEditorFn).
func (s *RequestSigner) Editor(bodyDigest string) func(context.Context, *http.Request) error {
	return func(_ context.Context, req *http.Request) error { return s.Sign(req, bodyDigest) }
}
