// Package radio owns how nodes find and hear each other without any
// infrastructure: the signed frame that every transport carries (beacons,
// pings and pongs), its line encoding for serial and file transports, replay
// protection, drop counters, and the Link interface that each transport
// implements (radio/udp, radio/filebus, radio/lora, radio/ble). The
// in-memory mesh for tests is radio/radiotest.
//
// # Links
//
// Every link carries the same signed frame; the broker weighs the link a
// peer was heard on by the factor below (lower is better: a faster, more
// local medium).
//
//	via     medium                                            factor
//	udp     UDP multicast on the LAN or mesh (radio/udp)         1.00
//	ble     BLE extended advertising, LE 1M (radio/ble)          1.05
//	bt_lr   BLE extended advertising, LE Coded (radio/ble)       1.08
//	lora    LoRa modem on a serial port (radio/lora)             1.10
//	file    a shared file (radio/filebus)                        1.20
//
// bt_lr lies between ble and lora, as the seed has it: it reaches about
// four times as far as ble at an eighth of the rate, and less far than LoRa.
// A ble link that fell back to the legacy name beacon delivers endpoints,
// not frames (Packet.Endpoint).
//
// # Frame format, version 1
//
// A frame is at most MaxFrame (220) bytes. All integers are big-endian.
//
//	offset  size  field
//	0       1     version, 0x01
//	1       1     type: 1 beacon, 2 ping, 3 pong
//	2       1     flags: bit 0 (0x01) = active (beacons only); other bits 0
//	3       4     epoch: the sender's boot epoch (a persisted count of starts)
//	7       4     counter: the sender's frame number within the epoch
//	11      32    the sender's Ed25519 public key
//	43      n     payload, by type (below)
//	43+n    64    Ed25519 signature over bytes 0 .. 43+n-1
//
// Beacon payload (n = 4 + len(endpoint) + len(name)):
//
//	1        endpoint length e, 0..64
//	e        endpoint: the sender's API URL, printable ASCII (0x21..0x7e)
//	1        name length m, 0..24
//	m        name: UTF-8, no control characters
//	2        gossip: the sender's memberlist port on the endpoint's host, 0 = none
//
// Ping and pong payload (n = 4):
//
//	4        nonce: chosen by the pinger, echoed by the pong
//
// The signature uses the identity package's domain separation with the
// domain FrameDomain ("offgrid/frame/v1"): it signs
// "offgrid/frame/v1" || 0x00 || bytes 0 .. 43+n-1. The sender's node ID is
// the did:key of the public key in the frame, so a frame needs no other
// context to be verified.
//
// Decoding is strict, so that every accepted frame has exactly one encoding
// up to its signature: an unknown version or type, a set flag bit that is not
// defined for the type, a length out of range, a string that is not valid,
// a missing or trailing byte, and a signature that does not verify are all
// refused. A ping or pong is 111 bytes; a beacon is 111 + len(endpoint) +
// len(name) bytes, so 150 bytes for "http://192.168.100.200:8081" and
// "village-hall", and at most 199 bytes.
//
// Frames carry no clock time: nodes have no clock battery. Replays are
// refused by (epoch, counter): a receiver accepts a sender's frame only if
// its (epoch, counter) is greater than the last one it accepted from that
// sender, in lexical order (ReplayFilter).
//
// # Line encoding
//
// Serial and file transports carry a frame as one line: the frame in
// base64url without padding (RFC 4648 §5), then "\n". A line, newline
// included, is at most MaxFrame bytes, so a line-encoded frame is at most
// MaxLineFrame (164) bytes before encoding. Decoding is strict: only the
// base64url alphabet, no padding, zero trailing bits.
package radio
