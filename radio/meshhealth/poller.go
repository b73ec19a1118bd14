package meshhealth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A Poller reads the mesh's health periodically from the first of its
// sources that works.
type Poller struct {
	interval time.Duration
	sources  []Source
	now      func() time.Time
}

// NewPoller returns a Poller that reads every interval, trying sources in
// order (for example Batctl, Babel, File) until one succeeds. now stamps
// each reading's ReadAt; nil means time.Now. It starts nothing: call Run.
func NewPoller(interval time.Duration, sources []Source, now func() time.Time) *Poller {
	if now == nil {
		now = time.Now
	}
	return &Poller{interval: interval, sources: append([]Source(nil), sources...), now: now}
}

// Run reads once at once and then every interval until ctx ends, and
// returns nil then. Each reading is handed to report from Run's goroutine;
// report must not block for long (it delays the next reading). A reading
// tries the sources in order, each bounded by interval, and reports the
// first success with a nil error. When all fail, report gets Metrics with
// Proto ProtoNone and MeshOK false, and the sources' errors joined. Run
// returns an error at once if interval is not positive or there are no
// sources. It starts no goroutines.
func (p *Poller) Run(ctx context.Context, report func(Metrics, error)) error {
	if p.interval <= 0 {
		return fmt.Errorf("mesh health poller: interval %v is not positive", p.interval)
	}
	if len(p.sources) == 0 {
		return errors.New("mesh health poller: no sources")
	}
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		m, err := p.readOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		report(m, err)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Poller) readOnce(ctx context.Context) (Metrics, error) {
	var errs []error
	for i, s := range p.sources {
		rctx, cancel := context.WithTimeout(ctx, p.interval)
		m, err := s.Read(rctx)
		cancel()
		if err == nil {
			m.ReadAt = p.now()
			return m, nil
		}
		if ctx.Err() != nil {
			return Metrics{}, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("source %d: %w", i, err))
	}
	return Metrics{Proto: ProtoNone, ReadAt: p.now()}, fmt.Errorf("mesh health: no source could be read: %w", errors.Join(errs...))
}
