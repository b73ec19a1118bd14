// Package noise encrypts the frames of a shared-medium radio link (UDP
// multicast, FileBus) in pairwise Noise sessions. A Link wraps an inner
// radio.Link and is itself a radio.Link: frames given to Send leave the node
// only encrypted, once for each peer it has a session with, and Run delivers
// only frames that a session decrypted. Plaintext radio frames, garbage,
// replays and datagrams of sessions the node does not hold are dropped and
// counted. A plain node (radio.Receiver) refuses the datagrams of a Link as
// malformed frames, since their first byte is not a frame version.
//
// # Handshake
//
// Sessions use Noise_XX_25519_ChaChaPoly_BLAKE2s with the prologue
// "offgrid/noise/v1". The static key of a node is its identity X25519 key
// (identity.Keys.BoxPrivate), so a peer is known by identity.Keys.BoxPublic.
// XX needs no key known in advance: the initiator learns the responder's
// static key from message 2, the responder the initiator's from message 3.
// Config.Peers, when set, is an allow-list checked at those points.
//
// Message 1 is broadcast: every node that hears it answers with its own
// message 2, and the initiator completes one session with each of them by
// replaying its handshake state from the saved ephemeral key. A node
// broadcasts message 1 from Send: at most once per Config.HandshakeRetry
// while it has no session, and once per Config.Rehandshake after that, so
// that nodes that join later, or whose message 1 was lost, pair with it
// too. A frame sent while the node has no session is dropped (Send returns
// nil): discovery beacons repeat, so the next one goes out encrypted.
//
// # Wire format, version 1
//
// Every datagram on the inner link is (integers big-endian):
//
//	offset  size  field
//	0       2     magic "ON"
//	2       1     version, 0x01
//	3       1     type: 1, 2, 3 handshake message 1, 2, 3; 4 transport
//	4       4     sender's session id (nonzero)
//	8       4     receiver's session id (0 in message 1)
//	12      n     payload, by type
//
// Payloads: message 1 is the initiator's ephemeral key (32 bytes); message
// 2 is the responder's ephemeral key, its encrypted static key and an empty
// encrypted payload (96 bytes); message 3 is the initiator's encrypted static
// key and an empty encrypted payload (64 bytes). A transport message is an
// 8-byte nonce (the sender's per-session counter, from 0) followed by one
// radio frame encrypted with ChaCha20-Poly1305 under that nonce (len+16
// bytes), with bytes 0..19 of the datagram as associated data. The
// handshake's session ids are not authenticated; they only route messages,
// and a wrong one makes the handshake or the decryption fail.
//
// Overhead is 36 bytes per frame, so Link.MTU is the inner MTU less 36:
// 184 over UDP (radio.MaxFrame) and 128 over FileBus (radio.MaxLineFrame).
// The largest handshake message is 108 bytes.
//
// A session is the pair (our id, their id) and keeps a 64-datagram replay
// window over nonces, so lost and reordered datagrams still decrypt. Each
// node keeps at most Config.MaxSessions sessions (the oldest go first), at
// most three per peer (it sends on the newest), forgets a session it has
// not heard from for Config.SessionIdle, and keeps at most
// Config.MaxSessions pending handshakes of each role, each for at most
// Config.HandshakeTimeout.
package noise
