// Package udp is the radio link over UDP multicast on an IP network (a
// Wi-Fi mesh, a LAN, or loopback in tests).
//
// Every node joins one IPv4 multicast group (default 239.23.0.7:47007, an
// organization-local address) on one interface and sends each encoded
// frame, as is, in one datagram to the group, with TTL 1 (the mesh below,
// BATMAN-adv or Babel over one link, is one hop at the IP layer). There is
// no other framing: a datagram is a frame (see package radio for its
// layout), at most radio.MaxFrame bytes. Datagrams longer than that are
// delivered cut to radio.MaxFrame+1 bytes, so that the receiver counts them
// as oversized.
//
// Senders set IP_MULTICAST_IF to the configured interface, because without
// it datagrams follow the default route (off the machine, for loopback), and
// IP_MULTICAST_LOOP as configured, which must be on for nodes on one host to
// hear each other. A receiver may see the source address 0.0.0.0 on
// loopback: a beacon carries the sender's endpoint itself.
package udp
