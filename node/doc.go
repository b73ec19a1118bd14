// Package node is the engine of an Offgrid-Net node, and its composition
// root. A Node owns the node's database, identity, announce settings,
// receipts, the host's shard intake, the replay state of signed requests
// (node_replay: saved before each request is served, loaded at start,
// never evicted; see identity.ReplayGuard) and the event bus; it composes the
// engine's parts (node/peers: peer table, discovery, membership, mesh
// health; node/assets: put, get and repair of the node's own files;
// node/trust: the cluster document, who is a member, pending nodes) and
// supervises their Run loops. Only members of the cluster enter the peer
// table and are chosen as hosts (hostList asks node/trust again, so a
// revoked peer is never a host even before the table is pruned). It knows nothing of HTTP: other nodes are
// reached through the transports injected in Config.Connect (package
// peerclient builds them), and the HTTP API and the dashboard are thin
// layers over its methods. See docs/architecture.md.
//
// The node records its own history for the dashboard's overview
// (history.go): every History.Interval (1 min) a row in node_history with
// the peers up, the shard bytes received and sent during the interval,
// the shards hosted for other nodes, its files and how many are healthy,
// and the data directory's file system's used and free bytes; rows older
// than History.Keep (7 days) are deleted at each sample, so the table
// stays near 10,000 rows. The table has its own migration component
// ("node-history") so its versions never collide with the node's others.
// Traffic is counted where shard bytes cross the node: shards another
// node (or the admin) stores here or opens here, and this node's puts to
// and fetches from other hosts (a counting wrapper on the remote
// transport); this node's own shards on itself are not traffic. The same
// bytes are also counted per peer (a peer's page: bytes sent to and
// received from it since start), by the node ID of the host or of the
// signed caller; callers that are not nodes (the admin) and audits count
// only in the totals, and at most maxTrafficPeers peers are counted one by
// one, so the counters stay bounded whoever calls.
//
// # Storage billing: nothing paid twice, nothing paid for what was not kept
//
// An owner pays each host for keeping its shards, one window at a time
// (storagebill.go). Why no time is paid twice: (1) a host signs at most
// one storage receipt per owner and window, because the receipt's job ID
// names both and the host's receipt store keeps (job ID, resource) unique;
// (2) it signs no window that overlaps one it already billed that owner,
// checked against its newest storage receipt for the owner under a mutex
// that also covers the signing, and windows only move forward; (3) the
// owner pays a receipt at most once, by settlement's argument (package
// economy). Why no more is paid than was kept: the owner asks only for the
// bytes of its live shards placed on the host before the window began
// (storage.Catalog.Holdings), refuses a receipt for more units than that
// or above MaxStoragePrice, and the host signs for no more bytes than it
// still keeps for the owner and stored before the window began. Clocks
// enter only through window bounds: a host refuses windows that have not
// ended by its clock (with storageClockSkew of drift) and counts shards
// stored up to storageClockSkew after the start. TestStorageWindowsNeverOverlap
// drives the host's side with random windows, repeats and restarts.
package node
