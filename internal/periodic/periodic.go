package periodic

import (
	"context"
	"time"
)

// Run calls fn every interval, the first time one interval after the
// start, until ctx ends; then it returns nil. A negative interval means
// never: Run returns at once. fn runs on Run's goroutine, so a slow round
// delays the next rather than overlapping it.
func Run(ctx context.Context, interval time.Duration, fn func(context.Context)) error {
	if interval < 0 {
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			fn(ctx)
		}
	}
}
