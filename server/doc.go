// Package server is the node's HTTP listener: the chi root router with the
// shared middleware (panic recovery, request logging, a Host allow-list
// against DNS rebinding, cross-origin protection for state-changing browser
// requests, request-body deadlines), the API and the dashboard mounted side
// by side, and graceful shutdown.
//
// Every request body has a read deadline that grows with what arrived:
// reads may block for node.Config's BodyGrace plus one second per
// BodyMinRate bytes. Only time spent waiting for the sender counts, so a
// handler that pauses between reads (a put waiting for its hosts) is not
// blamed, while a sender that trickles bytes to hold one of the few upload
// slots loses the request with 408 within its budget. The deadline is the
// connection's (http.ResponseController), so a stalled read ends without a
// goroutine per request; it is cleared once the body hits EOF, because the
// server then watches the connection for a client that leaves and a
// timeout there would cancel the request's context. Any other failed read
// (a short, cut-off or badly chunked body) is a 400, and the store removes
// what the upload wrote.
package server
