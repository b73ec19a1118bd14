package assets

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/offgrid-net/offgrid/storage"
)

// countingReader counts the bytes a put read: its progress. Reading waits
// while the stripes in flight upload, so hosts that take nothing stall it
// as surely as a client that sends nothing.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// watchStall raises UploadStalled each time the put of m reads nothing
// for the stall age, until stop is called (Put calls it when the put
// ends; the goroutine is gone when stop returns).
func (s *Service) watchStall(ctx context.Context, m storage.Manifest, read *countingReader) (stop func()) {
	age := s.cfg.StallAge
	if age < 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The age is counted in ticks of a quarter of it (a stall is seen
		// within 1.25 ages), not read from the node's clock, which tests
		// hold still.
		const ticksPerAge = 4
		tick := time.NewTicker(max(age/ticksPerAge, time.Millisecond))
		defer tick.Stop()
		last, since, idle := read.n.Load(), s.deps.Now(), 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			n := read.n.Load()
			if n != last {
				last, since, idle = n, s.deps.Now(), 0
				continue
			}
			idle++
			if idle == ticksPerAge {
				s.log.Warn("Upload stalled", "asset", m.AssetID, "read", n, "size", m.Size, "since", since)
				s.deps.Events.Publish(UploadStalled{AssetID: m.AssetID, Name: m.Name, Read: n, Size: m.Size, Since: since})
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
