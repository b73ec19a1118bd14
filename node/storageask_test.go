package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
)

// TestAskHostsInParallel: a billing round asks its hosts a few at a time,
// so hosts that never answer do not hold up the others; it never runs more
// than its bound at once, it reports the failures in the hosts' order, and
// once its context ends it asks no more hosts.
func TestAskHostsInParallel(t *testing.T) {
	const hosts, parallel = 12, 4
	frozen := map[identity.NodeID]bool{"did:key:h01": true, "did:key:h05": true}
	asks := make([]storageAsk, hosts)
	for i := range asks {
		asks[i] = storageAsk{host: identity.NodeID(fmt.Sprintf("did:key:h%02d", i))}
	}
	errTimeout := errors.New("timed out")
	errStuck := errors.New("the answering hosts were never all asked")
	release := make(chan struct{}) // closed once every answering host is done
	var answered sync.WaitGroup
	answered.Add(hosts - len(frozen))
	go func() {
		answered.Wait()
		close(release)
	}()
	var inFlight, most, accepted atomic.Int32
	err := askHosts(t.Context(), asks, parallel, func(_ context.Context, a storageAsk) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if !frozen[a.host] {
			accepted.Add(1)
			answered.Done()
			return nil
		}
		select {
		case <-release:
			return errTimeout
		case <-time.After(10 * time.Second):
			return errStuck
		}
	})
	switch {
	case errors.Is(err, errStuck):
		t.Fatalf("frozen hosts held up the others: %v", err)
	case accepted.Load() != hosts-int32(len(frozen)):
		t.Fatalf("accepted %d, want %d", accepted.Load(), hosts-len(frozen))
	case most.Load() > parallel:
		t.Fatalf("%d hosts asked at once, bound %d", most.Load(), parallel)
	case err == nil || !errors.Is(err, errTimeout):
		t.Fatalf("err = %v, want the frozen hosts' timeouts", err)
	}
	if msg := err.Error(); strings.Index(msg, "h01") > strings.Index(msg, "h05") || strings.Count(msg, "host ") != 2 {
		t.Fatalf("errors %q: want h01's, then h05's", msg)
	}
	if err := askHosts(t.Context(), nil, parallel, nil); err != nil {
		t.Fatalf("no hosts: %v", err)
	}
	// A round whose context has ended asks no one.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var asked atomic.Int32
	err = askHosts(ctx, asks, parallel, func(context.Context, storageAsk) error {
		asked.Add(1)
		return nil
	})
	if asked.Load() != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("ended round: %d asked, %v; want none asked and the context's error", asked.Load(), err)
	}
}
