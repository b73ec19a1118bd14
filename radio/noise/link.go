package noise

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	fnoise "github.com/flynn/noise"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/radio"
)

// Sizes of the wire format (see the package comment).
const (
	headerSize = 12
	nonceSize  = 8
	tagSize    = 16
	keySize    = 32
	msg1Size   = keySize
	msg2Size   = keySize + keySize + tagSize + tagSize
	msg3Size   = keySize + tagSize + tagSize
	// Overhead is how many bytes a transport message adds to a frame.
	Overhead = headerSize + nonceSize + tagSize
	// MaxHandshake is the size of the largest handshake message.
	MaxHandshake = headerSize + msg2Size
)

// Message types.
const (
	typeMsg1      = 1
	typeMsg2      = 2
	typeMsg3      = 3
	typeTransport = 4
)

const (
	version    = 1
	maxPerPeer = 3
	windowSize = 64
	prologue   = "offgrid/noise/v1"
)

var suite = fnoise.NewCipherSuite(fnoise.DH25519, fnoise.CipherChaChaPoly, fnoise.HashBLAKE2s)

// Config tunes a Link. The zero value of a field means its default.
type Config struct {
	// Peers, if set, returns the X25519 public keys (32 bytes each) of the
	// nodes the link may hold sessions with; a handshake with any other key
	// is refused. Nil allows any key. It is called from Run's goroutine
	// with the link's lock held, so it must be quick and must not call the
	// link.
	Peers func() [][]byte
	// MaxSessions bounds the sessions kept, and separately the pending
	// handshakes of each role (default 256). When full, the oldest goes.
	MaxSessions int
	// Now returns the current time (default time.Now); tests may fake it.
	Now func() time.Time
	// HandshakeTimeout is how long a pending handshake waits for its next
	// message (default 10s).
	HandshakeTimeout time.Duration
	// HandshakeRetry is the least time between two broadcasts of message 1
	// while the link has no session (default 1s). Shorter pairs sooner
	// after loss and costs airtime.
	HandshakeRetry time.Duration
	// Rehandshake is the time between broadcasts of message 1 while the
	// link has sessions (default 30s): it pairs the link with nodes that
	// joined later or missed its last message 1, and refreshes keys, at
	// the cost of three messages per peer.
	Rehandshake time.Duration
	// SessionIdle is how long a session is kept after its last decrypted
	// datagram (or its start) (default 2m). Peers beacon, so a silent
	// session's peer is gone.
	SessionIdle time.Duration
}

// DefaultConfig returns the defaults that New uses for zero fields.
func DefaultConfig() Config {
	return Config{
		MaxSessions:      256,
		Now:              time.Now,
		HandshakeTimeout: 10 * time.Second,
		HandshakeRetry:   time.Second,
		Rehandshake:      30 * time.Second,
		SessionIdle:      2 * time.Minute,
	}
}

// Stats counts what a Link did.
type Stats struct {
	// Handshakes is the number of sessions established.
	Handshakes uint64
	// Sessions is the number of sessions held now.
	Sessions int
	// Decrypted is the number of frames decrypted and delivered.
	Decrypted uint64
	// DroppedNoSession counts handshake and transport messages for a
	// session or pending handshake the link does not hold (including those
	// between two other nodes on the shared medium).
	DroppedNoSession uint64
	// DroppedBad counts datagrams that are not well-formed messages of
	// this protocol (plaintext radio frames among them), and messages that
	// fail authentication.
	DroppedBad uint64
	// DroppedReplay counts transport messages whose nonce was seen or is
	// older than the replay window, and repeated handshake messages 2.
	DroppedReplay uint64
	// DroppedPeer counts handshakes refused because the peer's static key
	// is not allowed by Config.Peers.
	DroppedPeer uint64
}

// Link is a radio.Link that encrypts frames in Noise sessions over an inner
// link. Send and Run are safe to call concurrently.
type Link struct {
	inner  radio.Link
	static fnoise.DHKey
	cfg    Config

	// mu guards the fields below.
	mu         sync.Mutex
	sessions   map[sessionKey]*session
	initiated  map[uint32]*initPending // by our session id
	responding map[uint32]*respPending // by our session id
	lastHello  time.Time
	stats      Stats
}

var _ radio.Link = (*Link)(nil)

type sessionKey struct{ local, remote uint32 }

type session struct {
	key       sessionKey
	peer      string // the peer's static public key
	send      fnoise.Cipher
	recv      fnoise.Cipher
	sendN     uint64
	win       window
	created   time.Time
	lastHeard time.Time
}

// initPending is a message 1 we broadcast; answers are replayed from seed.
type initPending struct {
	seed     [keySize]byte
	created  time.Time
	answered map[uint32]bool // responder ids whose message 2 we took
}

// respPending is a message 2 we sent, waiting for message 3.
type respPending struct {
	remote  uint32
	hs      *fnoise.HandshakeState
	created time.Time
}

// New returns a link that encrypts the frames of inner with keys's X25519
// key. It starts nothing; call Run.
func New(inner radio.Link, keys *identity.Keys, cfg Config) (*Link, error) {
	if inner == nil || keys == nil {
		return nil, errors.New("noise: nil inner link or keys")
	}
	if cfg.MaxSessions < 0 || cfg.HandshakeTimeout < 0 || cfg.HandshakeRetry < 0 || cfg.Rehandshake < 0 || cfg.SessionIdle < 0 {
		return nil, fmt.Errorf("noise: negative config value: %+v", cfg)
	}
	if mtu := inner.MTU(); mtu-Overhead < radio.MinFrame || mtu < MaxHandshake {
		return nil, fmt.Errorf("noise: inner MTU %d too small, need %d", mtu, radio.MinFrame+Overhead)
	}
	d := DefaultConfig()
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = d.MaxSessions
	}
	if cfg.Now == nil {
		cfg.Now = d.Now
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = d.HandshakeTimeout
	}
	if cfg.HandshakeRetry == 0 {
		cfg.HandshakeRetry = d.HandshakeRetry
	}
	if cfg.Rehandshake == 0 {
		cfg.Rehandshake = d.Rehandshake
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = d.SessionIdle
	}
	return &Link{
		inner:      inner,
		static:     fnoise.DHKey{Private: keys.BoxPrivate().Bytes(), Public: keys.BoxPublic()},
		cfg:        cfg,
		sessions:   make(map[sessionKey]*session),
		initiated:  make(map[uint32]*initPending),
		responding: make(map[uint32]*respPending),
	}, nil
}

// Via returns the inner link's Via.
func (l *Link) Via() radio.Via { return l.inner.Via() }

// MTU returns the inner link's MTU less Overhead.
func (l *Link) MTU() int { return l.inner.MTU() - Overhead }

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Sessions = len(l.sessions)
	return s
}

// Send encrypts frame for each peer the link has a session with (on the
// newest session with that peer) and sends one transport message per peer
// on the inner link. It first broadcasts handshake message 1 when due (see
// the package comment). With no session the frame is dropped and Send
// returns nil, as for a frame no one heard. It returns radio.ErrTooLarge for
// a frame longer than MTU, and otherwise the first error of the inner
// link's sends, after trying them all.
func (l *Link) Send(ctx context.Context, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(frame) > l.MTU() {
		return fmt.Errorf("noise send: %w: %d bytes, MTU %d", radio.ErrTooLarge, len(frame), l.MTU())
	}
	hello, msgs, err := l.seal(frame)
	if err != nil {
		return fmt.Errorf("noise send: %w", err)
	}
	var first error
	if hello != nil {
		if err := l.inner.Send(ctx, hello); err != nil {
			first = fmt.Errorf("noise send handshake: %w", err)
		}
	}
	for _, m := range msgs {
		if err := l.inner.Send(ctx, m); err != nil && first == nil {
			first = fmt.Errorf("noise send: %w", err)
		}
	}
	return first
}

// seal returns the message 1 to broadcast, if one is due, and the transport
// messages carrying frame.
func (l *Link) seal(frame []byte) (hello []byte, msgs [][]byte, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	l.expireLocked(now)
	gap := l.cfg.Rehandshake
	if len(l.sessions) == 0 {
		gap = l.cfg.HandshakeRetry
	}
	if l.lastHello.IsZero() || now.Sub(l.lastHello) >= gap {
		hello, err = l.helloLocked(now)
		if err != nil {
			return nil, nil, err
		}
		l.lastHello = now
	}
	newest := make(map[string]*session)
	for _, s := range l.sessions {
		if n := newest[s.peer]; n == nil || s.created.After(n.created) {
			newest[s.peer] = s
		}
	}
	for _, s := range newest {
		if s.sendN > fnoise.MaxNonce {
			continue
		}
		m := appendHeader(make([]byte, 0, Overhead+len(frame)), typeTransport, s.key.local, s.key.remote)
		m = binary.BigEndian.AppendUint64(m, s.sendN)
		s.sendN++
		msgs = append(msgs, s.send.Encrypt(m, s.sendN-1, m, frame))
	}
	return hello, msgs, nil
}

// helloLocked makes a pending initiator handshake and returns its message 1.
func (l *Link) helloLocked(now time.Time) ([]byte, error) {
	p := &initPending{created: now, answered: make(map[uint32]bool)}
	if _, err := rand.Read(p.seed[:]); err != nil {
		return nil, err
	}
	id := l.newIDLocked()
	hs, err := l.handshake(true, p.seed[:])
	if err != nil {
		return nil, err
	}
	msg, _, _, err := hs.WriteMessage(appendHeader(nil, typeMsg1, id, 0), nil)
	if err != nil {
		return nil, err
	}
	if len(l.initiated) >= l.cfg.MaxSessions {
		deleteOldest(l.initiated, func(p *initPending) time.Time { return p.created })
	}
	l.initiated[id] = p
	return msg, nil
}

// handshake returns a new XX handshake state; seed, if not nil, is the
// ephemeral private key.
func (l *Link) handshake(initiator bool, seed []byte) (*fnoise.HandshakeState, error) {
	c := fnoise.Config{
		CipherSuite:   suite,
		Pattern:       fnoise.HandshakeXX,
		Initiator:     initiator,
		Prologue:      []byte(prologue),
		StaticKeypair: l.static,
	}
	if seed != nil {
		c.Random = bytes.NewReader(seed)
	}
	return fnoise.NewHandshakeState(c)
}

// Run runs the inner link until ctx ends, answering handshakes and calling
// deliver with each decrypted frame (Data is the frame, Via and From those
// of the inner packet). Handshake answers are sent on the inner link from
// Run's goroutine. It returns what the inner Run returns.
func (l *Link) Run(ctx context.Context, deliver func(radio.Packet)) error {
	return l.inner.Run(ctx, func(p radio.Packet) {
		reply, frame := l.handle(p.Data)
		if reply != nil {
			// A lost answer is like a lost datagram: the initiator retries.
			_ = l.inner.Send(ctx, reply)
		}
		if frame != nil {
			deliver(radio.Packet{Data: frame, Via: p.Via, From: p.From})
		}
	})
}

// handle processes one datagram of the inner link and returns a handshake
// message to send, or a decrypted frame to deliver, or neither.
func (l *Link) handle(b []byte) (reply, frame []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	l.expireLocked(now)
	if len(b) < headerSize || b[0] != 'O' || b[1] != 'N' || b[2] != version {
		l.stats.DroppedBad++
		return nil, nil
	}
	typ := b[3]
	snd := binary.BigEndian.Uint32(b[4:8])
	rcv := binary.BigEndian.Uint32(b[8:12])
	body := b[headerSize:]
	if snd == 0 || (rcv == 0) != (typ == typeMsg1) {
		l.stats.DroppedBad++
		return nil, nil
	}
	switch typ {
	case typeMsg1:
		return l.onMsg1Locked(now, snd, body), nil
	case typeMsg2:
		return l.onMsg2Locked(now, snd, rcv, body), nil
	case typeMsg3:
		l.onMsg3Locked(now, snd, rcv, body)
		return nil, nil
	case typeTransport:
		return nil, l.onTransportLocked(now, b, snd, rcv)
	}
	l.stats.DroppedBad++
	return nil, nil
}

func (l *Link) onMsg1Locked(now time.Time, snd uint32, body []byte) []byte {
	if len(body) != msg1Size {
		l.stats.DroppedBad++
		return nil
	}
	if l.initiated[snd] != nil {
		return nil // our own message 1, echoed by the medium
	}
	hs, err := l.handshake(false, nil)
	if err != nil {
		l.stats.DroppedBad++
		return nil
	}
	if _, _, _, err := hs.ReadMessage(nil, body); err != nil {
		l.stats.DroppedBad++
		return nil
	}
	id := l.newIDLocked()
	msg, _, _, err := hs.WriteMessage(appendHeader(nil, typeMsg2, id, snd), nil)
	if err != nil {
		l.stats.DroppedBad++
		return nil
	}
	if len(l.responding) >= l.cfg.MaxSessions {
		deleteOldest(l.responding, func(p *respPending) time.Time { return p.created })
	}
	l.responding[id] = &respPending{remote: snd, hs: hs, created: now}
	return msg
}

func (l *Link) onMsg2Locked(now time.Time, snd, rcv uint32, body []byte) []byte {
	if len(body) != msg2Size {
		l.stats.DroppedBad++
		return nil
	}
	p := l.initiated[rcv]
	if p == nil {
		l.stats.DroppedNoSession++
		return nil
	}
	if p.answered[snd] {
		l.stats.DroppedReplay++
		return nil
	}
	if len(p.answered) >= l.cfg.MaxSessions {
		l.stats.DroppedBad++
		return nil
	}
	// Replay our message 1 from its ephemeral key, then read this answer.
	hs, err := l.handshake(true, p.seed[:])
	if err == nil {
		_, _, _, err = hs.WriteMessage(nil, nil)
	}
	if err == nil {
		_, _, _, err = hs.ReadMessage(nil, body)
	}
	if err != nil {
		l.stats.DroppedBad++
		return nil
	}
	peer := hs.PeerStatic()
	if !l.allowedLocked(peer) {
		return nil
	}
	msg, toPeer, fromPeer, err := hs.WriteMessage(appendHeader(nil, typeMsg3, rcv, snd), nil)
	if err != nil || toPeer == nil {
		l.stats.DroppedBad++
		return nil
	}
	p.answered[snd] = true
	l.addSessionLocked(now, sessionKey{local: rcv, remote: snd}, peer, toPeer, fromPeer)
	return msg
}

func (l *Link) onMsg3Locked(now time.Time, snd, rcv uint32, body []byte) {
	if len(body) != msg3Size {
		l.stats.DroppedBad++
		return
	}
	p := l.responding[rcv]
	if p == nil || p.remote != snd {
		l.stats.DroppedNoSession++
		return
	}
	delete(l.responding, rcv)
	_, fromPeer, toPeer, err := p.hs.ReadMessage(nil, body)
	if err != nil || fromPeer == nil {
		l.stats.DroppedBad++
		return
	}
	peer := p.hs.PeerStatic()
	if !l.allowedLocked(peer) {
		return
	}
	l.addSessionLocked(now, sessionKey{local: rcv, remote: snd}, peer, toPeer, fromPeer)
}

func (l *Link) onTransportLocked(now time.Time, b []byte, snd, rcv uint32) []byte {
	if len(b) < Overhead {
		l.stats.DroppedBad++
		return nil
	}
	s := l.sessions[sessionKey{local: rcv, remote: snd}]
	if s == nil {
		l.stats.DroppedNoSession++
		return nil
	}
	n := binary.BigEndian.Uint64(b[headerSize:])
	if n > fnoise.MaxNonce {
		l.stats.DroppedBad++
		return nil
	}
	if !s.win.fresh(n) {
		l.stats.DroppedReplay++
		return nil
	}
	frame, err := s.recv.Decrypt(nil, n, b[:headerSize+nonceSize], b[headerSize+nonceSize:])
	if err != nil {
		l.stats.DroppedBad++
		return nil
	}
	s.win.mark(n)
	s.lastHeard = now
	l.stats.Decrypted++
	return frame
}

// allowedLocked reports whether a session with the static key peer may be
// made, counting a refusal.
func (l *Link) allowedLocked(peer []byte) bool {
	if bytes.Equal(peer, l.static.Public) {
		l.stats.DroppedBad++ // a handshake with ourselves
		return false
	}
	if l.cfg.Peers == nil {
		return true
	}
	for _, k := range l.cfg.Peers() {
		if bytes.Equal(k, peer) {
			return true
		}
	}
	l.stats.DroppedPeer++
	return false
}

func (l *Link) addSessionLocked(now time.Time, key sessionKey, peer []byte, toPeer, fromPeer *fnoise.CipherState) {
	s := &session{
		key:       key,
		peer:      string(peer),
		send:      toPeer.Cipher(),
		recv:      fromPeer.Cipher(),
		created:   now,
		lastHeard: now,
	}
	// Keep the newest maxPerPeer-1 sessions of this peer, and room for s.
	var same []*session
	for _, o := range l.sessions {
		if o.peer == s.peer {
			same = append(same, o)
		}
	}
	for len(same) >= maxPerPeer {
		oldest := 0
		for i, o := range same {
			if o.created.Before(same[oldest].created) {
				oldest = i
			}
		}
		delete(l.sessions, same[oldest].key)
		same = append(same[:oldest], same[oldest+1:]...)
	}
	if len(l.sessions) >= l.cfg.MaxSessions {
		deleteOldest(l.sessions, func(s *session) time.Time { return s.created })
	}
	l.sessions[key] = s
	l.stats.Handshakes++
}

// expireLocked forgets idle sessions and stale pending handshakes.
func (l *Link) expireLocked(now time.Time) {
	for k, s := range l.sessions {
		if now.Sub(s.lastHeard) > l.cfg.SessionIdle {
			delete(l.sessions, k)
		}
	}
	for id, p := range l.initiated {
		if now.Sub(p.created) > l.cfg.HandshakeTimeout {
			delete(l.initiated, id)
		}
	}
	for id, p := range l.responding {
		if now.Sub(p.created) > l.cfg.HandshakeTimeout {
			delete(l.responding, id)
		}
	}
}

// newIDLocked returns a random nonzero session id not used for a pending
// handshake of ours.
func (l *Link) newIDLocked() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		id := binary.BigEndian.Uint32(b[:])
		if id != 0 && l.initiated[id] == nil && l.responding[id] == nil {
			return id
		}
	}
}

func appendHeader(b []byte, typ byte, snd, rcv uint32) []byte {
	b = append(b, 'O', 'N', version, typ)
	b = binary.BigEndian.AppendUint32(b, snd)
	return binary.BigEndian.AppendUint32(b, rcv)
}

// deleteOldest deletes the entry of m with the earliest time.
func deleteOldest[K comparable, V any](m map[K]V, at func(V) time.Time) {
	var (
		oldest K
		when   time.Time
		found  bool
	)
	for k, v := range m {
		if t := at(v); !found || t.Before(when) {
			oldest, when, found = k, t, true
		}
	}
	if found {
		delete(m, oldest)
	}
}

// window is a sliding replay window over the last windowSize nonces.
type window struct {
	top  uint64 // highest nonce accepted
	bits uint64 // bit i set: nonce top-i accepted
	any  bool   // a nonce was accepted
}

// fresh reports whether nonce n may be accepted.
func (w *window) fresh(n uint64) bool {
	if !w.any || n > w.top {
		return true
	}
	d := w.top - n
	return d < windowSize && w.bits&(1<<d) == 0
}

// mark records nonce n, which fresh accepted, as accepted.
func (w *window) mark(n uint64) {
	switch {
	case !w.any:
		w.top, w.bits, w.any = n, 1, true
	case n > w.top:
		if d := n - w.top; d >= windowSize {
			w.bits = 1
		} else {
			w.bits = w.bits<<d | 1
		}
		w.top = n
	default:
		w.bits |= 1 << (w.top - n)
	}
}
