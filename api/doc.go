// Package api serves the node's HTTP API described by openapi.yaml: the
// generated strict server (api/gen) backed by thin handlers that call
// node, a middleware that enforces the spec's security requirements (admin
// token or node request signature, whose signer must be a member of the
// node's cluster) and validates requests against the spec.
// Every error goes to the client through package problem, which maps it to
// its status.
//
// The spec bounds every input (server/spec_test.go checks it), so the
// validator refuses an oversize value before a handler runs; the limits the
// handlers and the engine keep themselves are the spec's (node.MaxPrice,
// node.MaxShardBytesLimit, MaxAssetBytes, ...; a test compares them).
// Streamed bodies (putShard, putAsset) are not read by the validator: the
// shard store cuts a shard at the node's MaxShardBytes, and the guard cuts
// a put at MaxAssetBytes, refusing a larger declared Content-Length before
// reading anything.
package api
