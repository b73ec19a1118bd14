// Package api serves the node's HTTP API described by openapi.yaml: the
// generated strict server (api/gen) backed by thin handlers that call
// node, a middleware that enforces the spec's security requirements (admin
// token or node request signature, whose signer must be a member of the
// node's cluster) and validates requests against the spec.
// Every error goes to the client through package problem, which maps it to
// its status.
package api
