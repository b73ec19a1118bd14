package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
)

// RetryAfterSeconds is what a busy node asks callers to wait.
const RetryAfterSeconds = 2

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// statusOf maps a domain error to an HTTP status and reports whether its
// message is meant for the user. Errors not listed are internal: they are
// logged, and the client sees only a generic message.
func statusOf(err error) (status int, public bool) {
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes), errors.Is(err, node.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, true
	case errors.Is(err, node.ErrInvalid), errors.Is(err, errBadRequest):
		return http.StatusBadRequest, true
	case errors.Is(err, errUnauthorized), errors.Is(err, identity.ErrBadRequestSignature):
		return http.StatusUnauthorized, true
	case errors.Is(err, identity.ErrReplay):
		return http.StatusUnauthorized, true
	case errors.Is(err, node.ErrNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, node.ErrInactive), errors.Is(err, node.ErrConflict):
		return http.StatusConflict, true
	case errors.Is(err, node.ErrCorrupt):
		return http.StatusGone, true
	case errors.Is(err, node.ErrBusy), errors.Is(err, node.ErrStopped), errors.Is(err, node.ErrUnavailable):
		return http.StatusServiceUnavailable, true
	}
	return http.StatusInternalServerError, false
}

// WriteError writes err as a problem response. It is the one place where
// errors become HTTP statuses.
func WriteError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	status, public := statusOf(err)
	detail := err.Error()
	if !public {
		log.Error("Request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		detail = "internal error; see the node's log"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="offgrid"`)
	}
	WriteProblem(w, r, status, detail)
}

// WriteProblem writes a problem response with the given status and detail.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	b, _ := json.Marshal(Problem{
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
