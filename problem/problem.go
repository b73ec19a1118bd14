package problem

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// Errors of the HTTP layer itself, for requests that fail before (or
// instead of) reaching the engine. Wrap them with the reason.
var (
	// ErrBadRequest: the request does not follow the API (its spec, a
	// header, a query parameter).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: the request carries no valid credentials.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrBadBody: the request body is short, cut off or malformed (bad
	// chunked encoding); nothing of it was kept.
	ErrBadBody = errors.New("request body incomplete or malformed")
	// ErrSlowBody: the request body arrived slower than the node's minimum
	// rate; the request lost its slot and nothing of it was kept.
	ErrSlowBody = errors.New("request body too slow")
)

// TooManyRequests: the client must wait before it tries again (an address
// backing off after wrong admin tokens). It is answered 429 with
// Retry-After.
type TooManyRequests struct {
	// Wait is how long the client must still wait.
	Wait time.Duration
	// Reason says why, for the client.
	Reason string
}

func (e *TooManyRequests) Error() string { return "too many requests: " + e.Reason }

// RetryAfterSeconds is what a busy or stopping node asks callers to wait
// before they retry a 503.
const RetryAfterSeconds = 2

// internalDetail replaces the text of an internal error.
const internalDetail = "internal error; see the node's log"

// rules map sentinels to statuses, first match first. Every rule's error
// text describes the request (a vetted user-facing message), so it is
// public. An *http.MaxBytesError, matched by type, comes before them.
var rules = []struct {
	err    error
	status int
}{
	{node.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{node.ErrInvalid, http.StatusBadRequest},
	{ErrBadRequest, http.StatusBadRequest},
	{ErrBadBody, http.StatusBadRequest},
	{ErrSlowBody, http.StatusRequestTimeout},
	{ErrUnauthorized, http.StatusUnauthorized},
	{identity.ErrBadRequestSignature, http.StatusUnauthorized},
	{identity.ErrReplay, http.StatusUnauthorized},
	{identity.ErrTooManySenders, http.StatusForbidden},
	{node.ErrBadSignature, http.StatusUnauthorized},
	{node.ErrNotMember, http.StatusForbidden},
	{node.ErrForbidden, http.StatusForbidden},
	{node.ErrNotFound, http.StatusNotFound},
	{node.ErrInactive, http.StatusConflict},
	{node.ErrConflict, http.StatusConflict},
	{node.ErrCorrupt, http.StatusGone},
	{node.ErrBusy, http.StatusServiceUnavailable},
	{node.ErrStopped, http.StatusServiceUnavailable},
	{node.ErrUnavailable, http.StatusServiceUnavailable},
	{node.ErrNoSpace, http.StatusInsufficientStorage},
}

// Class is how an error is answered over HTTP.
type Class struct {
	// Status is the HTTP status.
	Status int
	// Public says the error's text describes the request and may be shown
	// to the client. An internal error is logged instead, and the client
	// gets a generic message.
	Public bool
	// Reason is, for a public error, its text after that of the error that
	// decided the status: "7 live hosts, 20 needed" for "put: unavailable:
	// 7 live hosts, 20 needed" (the whole text when nothing follows it). It
	// is empty for an internal error. The dashboard shows it.
	Reason string
}

// Classify maps err to its HTTP status. It is the one place where errors
// become statuses: the API and the dashboard both ask it.
func Classify(err error) Class {
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) {
		return Class{Status: http.StatusRequestEntityTooLarge, Public: true, Reason: reason(err, maxBytes)}
	}
	var tooMany *TooManyRequests
	if errors.As(err, &tooMany) {
		return Class{Status: http.StatusTooManyRequests, Public: true, Reason: tooMany.Reason}
	}
	// A full disk or a locked database can surface from any layer's
	// SQLite or file call, wrapped or not by the engine.
	err = nodeerr.FromResource(err)
	for _, r := range rules {
		if errors.Is(err, r.err) {
			return Class{Status: r.status, Public: true, Reason: reason(err, r.err)}
		}
	}
	return Class{Status: http.StatusInternalServerError}
}

// reason returns err's text after "<matched's text>: ", or all of it.
func reason(err, matched error) string {
	s := err.Error()
	prefix := matched.Error() + ": "
	if i := strings.Index(s, prefix); i >= 0 && i+len(prefix) < len(s) {
		return s[i+len(prefix):]
	}
	return s
}

// Write answers err as a problem response with the status Classify gives
// it. An internal error is logged on log and its text withheld. A 503 and
// a 429 say when to retry; a 401 names the scheme to authenticate with.
func Write(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	c := Classify(err)
	detail := err.Error()
	if !c.Public {
		log.Error("Request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		detail = internalDetail
	}
	var tooMany *TooManyRequests
	switch c.Status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	case http.StatusTooManyRequests:
		if errors.As(err, &tooMany) {
			w.Header().Set("Retry-After", strconv.Itoa(backoff.Seconds(tooMany.Wait)))
		}
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="offgrid"`)
	}
	WriteStatus(w, r, c.Status, detail)
}

// WriteInternal answers a failure that is not an error value (a handler
// panic) as an internal error: 500 with the generic message.
func WriteInternal(w http.ResponseWriter, r *http.Request) {
	WriteStatus(w, r, http.StatusInternalServerError, internalDetail)
}

// body is an RFC 9457 problem detail.
type body struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// WriteStatus writes a problem response with the given status and detail,
// for answers the router gives itself (no such route, a refused origin or
// host).
func WriteStatus(w http.ResponseWriter, r *http.Request, status int, detail string) {
	b, _ := json.Marshal(body{
		Type:     "about:blank",
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   detail,
		Instance: r.URL.Path,
	})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
