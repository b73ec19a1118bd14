package testutil

import (
	"bytes"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// LeakWait is how long CheckGoroutines waits for goroutines started during a
// test to end before it fails the test.
const LeakWait = 5 * time.Second

// CheckGoroutines snapshots the running goroutines and, when t ends (in
// t.Cleanup), waits up to LeakWait for their number to drop back, then
// fails t and prints the stacks of goroutines that were not there at the
// start. Call it first in a test, before anything that registers cleanups
// of its own, so that it runs after them. The count is process-wide, so
// the test (and its siblings) must not call t.Parallel; subtests of the
// test may, because they end before its cleanup runs.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.NewTimer(LeakWait)
		defer deadline.Stop()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			extra := newGoroutines(before, goroutines())
			if len(extra) == 0 {
				return
			}
			select {
			case <-tick.C:
				continue
			case <-deadline.C:
			}
			t.Errorf("%d goroutine(s) still running %v after the test:\n\n%s",
				len(extra), LeakWait, strings.Join(extra, "\n\n"))
			return
		}
	})
}

// goroutines returns the stacks of all goroutines, keyed by their header
// line ("goroutine 12 [running]:" without the state).
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[string]string)
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		s := string(g)
		head, _, _ := strings.Cut(s, "\n")
		id, _, _ := strings.Cut(head, " [")
		out[id] = s
	}
	return out
}

// newGoroutines returns the stacks in after whose goroutine is not in
// before, leaving out the runtime's and the testing package's own.
func newGoroutines(before, after map[string]string) []string {
	var extra []string
	for id, stack := range after {
		if _, ok := before[id]; ok || ignored(stack) {
			continue
		}
		extra = append(extra, stack)
	}
	slices.Sort(extra)
	return extra
}

// ignored reports goroutines that belong to the test framework or the
// runtime rather than to the code under test.
func ignored(stack string) bool {
	for _, s := range []string{
		"testing.(*T).Run(",
		"testing.(*T).Parallel(",
		"testing.tRunner.func1(", // a finished test waiting for its subtests
		"testing.runTests(",
		"runtime.goexit0",
		"os/signal.signal_recv",
		"runtime.ensureSigM",
		"testutil.goroutines(", // the goroutine taking the snapshot
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
