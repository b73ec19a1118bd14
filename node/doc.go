// Package node is the engine of an Offgrid-Net node, and its composition
// root. A Node owns the node's database, identity, announce settings,
// receipts, the host's shard intake, the replay state of signed requests
// (node_replay: saved before each request is served, loaded at start,
// never evicted; see identity.ReplayGuard) and the event bus; it composes the
// engine's parts (node/peers: peer table, discovery, membership, mesh
// health; node/assets: put, get and repair of the node's own files) and
// supervises their Run loops. It knows nothing of HTTP: other nodes are
// reached through the transports injected in Config.Connect (package
// peerclient builds them), and the HTTP API and the dashboard are thin
// layers over its methods. See docs/architecture.md.
package node
