package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/problem"
)

// TestRateBodyBudget checks how long reads may have blocked after a number
// of bytes: the grace plus one second per minRate bytes.
func TestRateBodyBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		received int64
		want     time.Duration
	}{
		{0, 30 * time.Second},
		{2048, 30*time.Second + 500*time.Millisecond},
		{4096, 31 * time.Second},
		{16 << 20, 30*time.Second + 4096*time.Second},
		// A 1 TiB streamed file: no overflow.
		{1 << 40, 30*time.Second + (1<<40/4096)*time.Second},
	}
	for _, tt := range tests {
		b := &rateBody{grace: 30 * time.Second, minRate: 4096, received: tt.received}
		if got := b.budget(); got != tt.want {
			t.Errorf("budget() after %d bytes = %v, want %v", tt.received, got, tt.want)
		}
	}
}

// errReader returns n bytes, then err.
type errReader struct {
	n   int
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		k := min(r.n, len(p))
		r.n -= k
		return k, nil
	}
	return 0, r.err
}

// TestRateBodyErrors checks how a failed read of the body is classified:
// a deadline is ErrSlowBody (408), any other failure ErrBadBody (400), and
// the end of the body stays io.EOF.
func TestRateBodyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		want   error
		status int
	}{
		{"deadline", fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded), problem.ErrSlowBody, http.StatusRequestTimeout},
		{"short", io.ErrUnexpectedEOF, problem.ErrBadBody, http.StatusBadRequest},
		{"bad chunk", errors.New("invalid byte in chunk length"), problem.ErrBadBody, http.StatusBadRequest},
		{"end", io.EOF, io.EOF, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &rateBody{
				ReadCloser: io.NopCloser(&errReader{n: 10, err: tt.err}),
				rc:         http.NewResponseController(httptest.NewRecorder()),
				grace:      time.Second, minRate: 1024, now: time.Now,
			}
			_, err := io.ReadAll(b)
			if tt.want == io.EOF {
				if err != nil {
					t.Errorf("ReadAll() = %v, want the body's end", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadAll() = %v, want %v", err, tt.want)
			}
			if got := problem.Classify(err).Status; got != tt.status {
				t.Errorf("Classify(%v).Status = %d, want %d", err, got, tt.status)
			}
		})
	}
}
