// Package peers is the node's view of the mesh: the peer table (in SQLite,
// one transaction per observation from any source), polling of static
// peers, discovery by signed beacons on the radio links, SWIM membership
// and failure detection (memberlist), and mesh routing health (batctl,
// babeld or a metrics file). It reaches other nodes only through the small
// interfaces it declares (Fetcher), so it knows nothing of HTTP.
//
// Round-trip time: a static peer's is the wall-clock duration of its
// announce poll (an HTTP request, so it includes the peer's handler); a
// peer known by beacons or gossip gets memberlist's direct-probe RTT
// (PingDelegate; memberlist skips indirect and TCP-fallback probes, which
// would not measure the path). Only the latest is kept, with how and when
// it was taken. Probe samples reach the table through the membership event
// queue and are dropped when it is full.
//
// Writes: the latest last-seen and round-trip times live in memory (heard)
// and reach node_peers at most every 30 s per peer (sooner when the table
// forgets peers sooner); every other change of a peer is written at once.
// The table's reads overlay memory on SQLite, so expiry and the choice of
// transport decide on the newest times, never on a stale row.
//
// Timeline: every state change the table publishes is also written to
// node_peer_states (only when it differs from the peer's last row). Rows
// older than TimelineWindow go, except each peer's newest older one (the
// state its window starts in); rows of forgotten peers go with them; and
// one peer keeps at most maxStateRows, so a flapping peer cannot grow the
// table. A restart records unknown for the peers that were up.
//
// Gossip admission: memberlist's messages are not authenticated (with
// --cluster-key they are encrypted under one shared key), so each node
// signs its gossip meta (endpoint, name, active) with its node key, and a
// node keeps every other node out of its memberlist state (AliveDelegate)
// unless the meta verifies under the key of the node ID it gossips as and
// that ID is a cluster member; a stranger with valid meta is noted as
// pending. What a gossiper can still do without the cluster key is send
// memberlist's suspect and dead messages about members: they mark a peer
// down until its next beacon or poll, which costs a repair pass, never a
// shard or a peer's endpoint.
//
// Lock order in membership: Membership.mu is never held while calling into
// memberlist, because memberlist calls the delegates (which take mu) while
// holding its own node lock.
package peers
