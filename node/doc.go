// Package node is the engine of an Offgrid-Net node. A Node owns the node's
// database, identity, announce settings, receipts, shard store, peer table
// and event bus, and runs its background loops in Run. The HTTP API and the
// dashboard are thin layers over its methods; other nodes are reached only
// through the client generated in api/gen.
package node
