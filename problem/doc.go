// Package problem is the one contract between the engine's errors and HTTP:
// Classify maps an error (node's sentinels, identity's request-signature
// errors, an oversize body, the HTTP layer's own ErrBadRequest and
// ErrUnauthorized) to a status and says whether its text may be shown, and
// Write answers it as an RFC 9457 problem+json body (with Retry-After on
// 503 and WWW-Authenticate on 401). The API writes every error with Write;
// the dashboard renders HTML but takes its status and message from
// Classify, so both answer the same error with the same status.
//
// An error not listed is internal: it is logged, and the client sees only
// a generic message, never the error's text.
package problem
