// Package api serves the node's HTTP API described by openapi.yaml: the
// generated strict server (api/gen) backed by thin handlers that call
// node, a middleware that enforces the spec's security requirements (admin
// token or node request signature) and validates requests against the spec,
// and the one function that turns errors into RFC 9457 problem responses.
package api
