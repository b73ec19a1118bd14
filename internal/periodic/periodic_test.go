package periodic

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	t.Parallel()
	t.Run("rounds until the context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var rounds atomic.Int32
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, time.Millisecond, func(context.Context) {
				if rounds.Add(1) == 3 {
					cancel()
				}
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		if got := rounds.Load(); got != 3 {
			t.Errorf("rounds = %d, want 3 (none after the context ended)", got)
		}
	})
	t.Run("negative interval never runs", func(t *testing.T) {
		called := false
		if err := Run(t.Context(), -1, func(context.Context) { called = true }); err != nil || called {
			t.Errorf("Run(-1) = %v, called %v; want nil, not called", err, called)
		}
	})
}
