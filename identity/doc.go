// Package identity owns a node's keys and everything derived from them: the
// node ID (the did:key of its Ed25519 key), the X25519 key used for key
// agreement, signatures with domain separation, and the scheme that
// authenticates one node's HTTP requests to another.
//
// # Signatures
//
// Every signature covers domain || 0x00 || message, where domain is a
// versioned ASCII label such as "offgrid/receipt/v1". A signature made for one
// purpose therefore never verifies for another.
//
// # Request signatures
//
// A node calling another node's API adds the header
//
//	Offgrid-Signature: v1;id=<did:key>;e=<epoch>;n=<seq>;d=<digest>;s=<sig>
//
// epoch is a number the sender raises on every start (it is persisted, so it
// does not depend on a clock), seq counts the sender's requests within an
// epoch, digest is the lower-case hex BLAKE3-256 of the request body (of the
// empty string when there is none) and sig is the base64url (no padding)
// Ed25519 signature, with domain "offgrid/request/v1", over
//
//	method "\n" host "\n" request-URI "\n" epoch "\n" seq "\n" digest
//
// The receiver checks the signature, that the digest matches the body, that
// host is one of its own names (so a request signed for one node does not
// replay to another; the receiver knows its names, this package does not),
// and that (epoch, seq) was not seen before: a per-sender sliding window
// (ReplayGuard) accepts requests that arrive out of order but refuses any
// repeat, any seq too far behind the window and any epoch older than the
// newest seen.
//
// A ReplayGuard never forgets a sender: evicting one would let its old
// requests replay, so a full guard refuses new senders instead
// (ErrTooManySenders). Its owner persists it through the save function,
// which runs before a request is accepted (a failed save refuses the
// request and changes nothing), and restores it with Restore, so replays
// stay refused across restarts. The saved form, ReplayState, is the epoch,
// the newest seq, the window size and the window's bitmap in little-endian
// 64-bit groups; a state saved with another window size restores as if
// every seq up to the newest had been seen, which can refuse a request
// but never accept a replay.
package identity
