// Package backoff makes a client that keeps sending wrong admin tokens
// wait: per client address, a few free failures, then a wait that doubles
// with each further failure, up to a cap. The dashboard's login and the
// API's admin-token operations share the schedule; the table of addresses
// is bounded.
package backoff
