package meshhealth

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

type reading struct {
	m   Metrics
	err error
}

// runPoller runs p in the bubble and returns the channel of its reports and
// a stop function that cancels Run and returns its result.
func runPoller(t *testing.T, p *Poller) (<-chan reading, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	reports := make(chan reading, 16) // the test drains it; more than one test needs
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, func(m Metrics, err error) { reports <- reading{m, err} })
	}()
	return reports, func() error { cancel(); return <-done }
}

var errDown = errors.New("source down")

func TestPollerFallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Minute
		start := time.Now()
		thirdCalls := 0
		sources := []Source{
			SourceFunc(func(context.Context) (Metrics, error) { return Metrics{}, errDown }),
			SourceFunc(func(ctx context.Context) (Metrics, error) {
				return Metrics{Proto: ProtoBabel, InterfacesUp: 1, MeshOK: true}, nil
			}),
			SourceFunc(func(context.Context) (Metrics, error) { thirdCalls++; return Metrics{}, nil }),
		}
		reports, stop := runPoller(t, NewPoller(interval, sources, time.Now))
		for i := range 3 {
			r := <-reports
			want := Metrics{Proto: ProtoBabel, InterfacesUp: 1, MeshOK: true, ReadAt: start.Add(time.Duration(i) * interval)}
			if r.err != nil {
				t.Fatalf("report %d error = %v", i, r.err)
			}
			if diff := cmp.Diff(want, r.m); diff != "" {
				t.Errorf("report %d mismatch (-want +got):\n%s", i, diff)
			}
		}
		if err := stop(); err != nil {
			t.Errorf("Run() = %v after ctx end, want nil", err)
		}
		if thirdCalls != 0 {
			t.Errorf("third source called %d times, want 0", thirdCalls)
		}
	})
}

func TestPollerAllFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errOther := errors.New("other down")
		sources := []Source{
			SourceFunc(func(context.Context) (Metrics, error) { return Metrics{}, errDown }),
			SourceFunc(func(context.Context) (Metrics, error) { return Metrics{}, errOther }),
		}
		start := time.Now()
		reports, stop := runPoller(t, NewPoller(time.Second, sources, nil))
		r := <-reports
		if !errors.Is(r.err, errDown) || !errors.Is(r.err, errOther) {
			t.Errorf("report error = %v, want both sources' errors", r.err)
		}
		if diff := cmp.Diff(Metrics{Proto: ProtoNone, ReadAt: start}, r.m); diff != "" {
			t.Errorf("report mismatch (-want +got):\n%s", diff)
		}
		if err := stop(); err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
}

// A source that hangs is abandoned after one interval for the next one.
func TestPollerBoundsSlowSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		start := time.Now()
		sources := []Source{
			SourceFunc(func(ctx context.Context) (Metrics, error) { <-ctx.Done(); return Metrics{}, ctx.Err() }),
			Babel{Addr: "/nonexistent/babel.sock"},
			SourceFunc(func(context.Context) (Metrics, error) { return Metrics{Proto: ProtoFile}, nil }),
		}
		reports, stop := runPoller(t, NewPoller(interval, sources, time.Now))
		r := <-reports
		if r.err != nil {
			t.Fatalf("report error = %v", r.err)
		}
		if diff := cmp.Diff(Metrics{Proto: ProtoFile, ReadAt: start.Add(interval)}, r.m); diff != "" {
			t.Errorf("report mismatch (-want +got):\n%s", diff)
		}
		if err := stop(); err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
}

// Cancelling while a source blocks ends Run without a report.
func TestPollerStopsDuringRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan struct{})
		sources := []Source{SourceFunc(func(ctx context.Context) (Metrics, error) {
			close(entered)
			<-ctx.Done()
			return Metrics{}, ctx.Err()
		})}
		reports, stop := runPoller(t, NewPoller(time.Hour, sources, nil))
		<-entered
		if err := stop(); err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
		select {
		case r := <-reports:
			t.Errorf("got report %+v after cancel, want none", r)
		default:
		}
	})
}

func TestPollerConfigErrors(t *testing.T) {
	t.Parallel()
	ok := []Source{SourceFunc(func(context.Context) (Metrics, error) { return Metrics{}, nil })}
	for _, p := range []*Poller{NewPoller(0, ok, nil), NewPoller(time.Second, nil, nil)} {
		if err := p.Run(t.Context(), func(Metrics, error) {}); err == nil {
			t.Errorf("Run() with interval %v and %d sources = nil, want an error", p.interval, len(p.sources))
		}
	}
}
