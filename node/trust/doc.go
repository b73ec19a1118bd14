// Package trust is the engine's part that decides who belongs to the
// cluster. It keeps the installed cluster document (package cluster) in the
// node_cluster table, installs only what the succession rule allows, spreads
// the document by asking a few up members for theirs, and keeps the bounded
// list of pending nodes: non-members that were heard (beacons, polls) and
// wait for an admin to admit them.
//
// # What gets installed
//
//   - Holding no document, the node installs one only when its operator
//     hands it over (Install: `offgrid cluster init`, `offgrid cluster join`,
//     the demo) and it admits this node or names it an admin; or, when
//     Config.Join names a cluster ID, the first valid document of that ID
//     heard from a peer that admits this node. A stranger therefore cannot
//     pull a fresh node into its own cluster.
//   - Holding one, it installs only a successor (cluster.CheckSuccessor):
//     same ID, larger serial, signed by a threshold of the current admins.
//     Documents from other nodes are parsed strictly and read with a size
//     bound (cluster.MaxSize).
//
// A node without a document runs alone: it has no members, so it serves no
// node-signed request and takes no peer into its table.
//
// # Pending nodes
//
// At most Config.MaxPending entries, keyed by node ID; when full, a new
// node evicts the one silent longest. A flood of fresh keys therefore
// churns this list and nothing else.
package trust
