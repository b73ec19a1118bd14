package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/offgrid-net/offgrid/problem"
)

// bodyDeadline gives every request body a read deadline that grows with
// the bytes received: reads may block for grace plus one second per
// minRate bytes in total. Only time spent waiting for the sender counts, so
// a handler that reads slowly on purpose (a put waiting for its hosts) is
// not blamed for it, while a sender trickling bytes loses its request, and
// with it any upload slot, with 408. A read that fails otherwise (a short,
// cut-off or badly chunked body) becomes problem.ErrBadBody, a 400.
func bodyDeadline(grace time.Duration, minRate int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != nil && r.Body != http.NoBody {
				rc := http.NewResponseController(w)
				// Bounds what the server itself reads of a body the handler
				// left unread (it drains some before reusing the connection);
				// each read of the handler sets its own deadline.
				rc.SetReadDeadline(time.Now().Add(grace))
				r.Body = &rateBody{ReadCloser: r.Body, rc: rc, grace: grace, minRate: minRate, now: time.Now}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// rateBody enforces bodyDeadline on one request body.
type rateBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	grace   time.Duration
	minRate int64
	now     func() time.Time

	received int64
	// blocked is the time reads have spent waiting so far.
	blocked time.Duration
	// done is set once the body hit EOF or failed; later reads pass through.
	done bool
}

// budget is how long reads may have blocked in total after received bytes.
func (b *rateBody) budget() time.Duration {
	whole := time.Duration(b.received/b.minRate) * time.Second
	frac := time.Duration(b.received%b.minRate) * time.Second / time.Duration(b.minRate)
	return b.grace + whole + frac
}

func (b *rateBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	start := b.now()
	left := b.budget() - b.blocked
	// A writer without deadlines (a test's recorder) only loses the limit.
	deadlineErr := b.rc.SetReadDeadline(start.Add(left))
	n, err := b.ReadCloser.Read(p)
	b.blocked += b.now().Sub(start)
	b.received += int64(n)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		b.done = true
		// Once the body is read the server watches the connection for a
		// client that goes away, and a timeout there would cancel the
		// request's context while the handler still works.
		if deadlineErr == nil {
			b.rc.SetReadDeadline(time.Time{})
		}
		return n, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.done = true
		return n, fmt.Errorf("%w: %d bytes in %s, the minimum is %d bytes/s after %s",
			problem.ErrSlowBody, b.received, b.blocked.Round(time.Millisecond), b.minRate, b.grace)
	default:
		b.done = true
		return n, fmt.Errorf("%w: after %d bytes: %w", problem.ErrBadBody, b.received, err)
	}
}
