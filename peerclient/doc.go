// Package peerclient is how a node reaches other nodes over HTTP: the shard
// transport (storage.Transport: PUT, GET and HEAD of /shards, signed with
// the node's key) and the static-peer poller (peers.Fetcher: GET /announce),
// both built on the client generated in api/gen. It sits above the engine,
// which takes these through small interfaces and so knows nothing of HTTP;
// cmd/offgrid wires them in with Connect.
package peerclient
