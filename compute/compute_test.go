package compute_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/compute"
	"github.com/offgrid-net/offgrid/compute/computetest"
)

func testConfig() compute.Config {
	cfg := compute.DefaultConfig()
	cfg.MemoryLimitPages = 1024 // 64 MiB: enough for Go's runtime, quick to exhaust
	cfg.MaxOutputBytes = 64 << 10
	// Generous: the hostile cases that must hit another limit first get
	// there in seconds even on a loaded machine.
	cfg.Timeout = time.Minute
	cfg.MaxConcurrent = 4
	cfg.Interpreter = computetest.Race
	return cfg
}

func newEngine(t *testing.T, cfg compute.Config) *compute.Engine {
	t.Helper()
	e, err := compute.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func TestRunModules(t *testing.T) {
	e := newEngine(t, testConfig())
	text := "hello wasm world\nsecond line\n"
	sum := sha256.Sum256([]byte(text))
	tests := []struct {
		module  string
		input   string
		timeout time.Duration
		want    string // exact output, when err is nil
		err     error
	}{
		{module: computetest.WordCount, input: text, want: "2 5 29\n"},
		{module: computetest.WordCount, input: "", want: "0 0 0\n"},
		{module: computetest.Checksum, input: text, want: fmt.Sprintf("%x\n", sum)},
		{module: computetest.Upper, input: text, want: strings.ToUpper(text)},
		{module: computetest.Loop, timeout: 300 * time.Millisecond, err: compute.ErrTimeout},
		{module: computetest.MemBomb, err: compute.ErrMemoryLimit},
		{module: computetest.Flood, err: compute.ErrOutputLimit},
		{module: computetest.Trap, err: compute.ErrTrap},
		// The host is fine after each hostile module: the next job runs.
		{module: computetest.WordCount, input: "a b c", want: "0 3 5\n"},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			var out bytes.Buffer
			res, err := e.Run(context.Background(), computetest.Module(t, tt.module), []byte(tt.input), &out, compute.Options{Timeout: tt.timeout})
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v (stderr %q)", err, tt.err, res.Stderr)
			}
			if res.Wall <= 0 || res.MemoryBytes == 0 {
				t.Errorf("result measured nothing: %+v", res)
			}
			if res.OutputHash != compute.Sum(out.Bytes()) || res.OutputBytes != int64(out.Len()) {
				t.Errorf("output hash/size %x/%d do not match the %d bytes written", res.OutputHash, res.OutputBytes, out.Len())
			}
			if tt.err == nil && out.String() != tt.want {
				t.Errorf("output %q, want %q", out.String(), tt.want)
			}
			switch tt.err {
			case compute.ErrTimeout:
				if res.Wall < tt.timeout || res.Wall > tt.timeout+5*time.Second {
					t.Errorf("timed out after %s, limit %s", res.Wall, tt.timeout)
				}
			case compute.ErrOutputLimit:
				if res.OutputBytes != testConfig().MaxOutputBytes {
					t.Errorf("flood wrote %d bytes, limit %d", res.OutputBytes, testConfig().MaxOutputBytes)
				}
			case compute.ErrMemoryLimit:
				if limit := uint64(testConfig().MemoryLimitPages) * compute.PageBytes; res.MemoryBytes > limit {
					t.Errorf("memory %d above limit %d", res.MemoryBytes, limit)
				}
			case compute.ErrTrap:
				if res.ExitCode == 0 || !strings.Contains(res.Stderr, "nil pointer") {
					t.Errorf("trap: exit %d, stderr %q", res.ExitCode, res.Stderr)
				}
			}
		})
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	cfg := testConfig()
	cfg.MaxModuleBytes = 4 << 20
	cfg.MaxInputBytes = 16
	e := newEngine(t, cfg)
	wc := computetest.Module(t, computetest.WordCount)
	tests := []struct {
		name   string
		module []byte
		input  []byte
		err    error
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), nil, compute.ErrInvalidModule},
		{"empty", nil, nil, compute.ErrInvalidModule},
		{"truncated wasm", wc[:1000], nil, compute.ErrInvalidModule},
		{"module too large", make([]byte, 4<<20+1), nil, compute.ErrModuleTooLarge},
		{"input too large", wc, make([]byte, 17), compute.ErrInputTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := e.Run(context.Background(), tt.module, tt.input, &out, compute.Options{})
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %d bytes for a refused run", out.Len())
			}
		})
	}
}

func TestCacheAndBusy(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConcurrent = 1
	cfg.CacheEntries = 1
	e := newEngine(t, cfg)
	wc := computetest.Module(t, computetest.WordCount)
	loop := computetest.Module(t, computetest.Loop)

	first, err := e.Run(context.Background(), wc, []byte("x"), &bytes.Buffer{}, compute.Options{})
	if err != nil || first.Cached {
		t.Fatalf("first run: cached=%v err=%v", first.Cached, err)
	}
	second, err := e.Run(context.Background(), wc, []byte("x"), &bytes.Buffer{}, compute.Options{})
	if err != nil || !second.Cached || second.OutputHash != first.OutputHash {
		t.Fatalf("second run: cached=%v err=%v", second.Cached, err)
	}

	// One slot: a run while the loop holds it is refused at once. The
	// loop itself may find the slot taken by one of the probing runs
	// below (on a loaded machine its goroutine can start late): it asks
	// again until it runs.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			_, err := e.Run(context.Background(), loop, nil, &bytes.Buffer{}, compute.Options{Timeout: 2 * time.Second})
			if !errors.Is(err, compute.ErrBusy) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	var busy error
	for time.Now().Before(deadline) {
		if _, busy = e.Run(context.Background(), wc, nil, &bytes.Buffer{}, compute.Options{}); errors.Is(busy, compute.ErrBusy) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(busy, compute.ErrBusy) {
		t.Fatalf("run beside a running one: %v, want ErrBusy", busy)
	}
	wg.Wait()

	// The loop evicted wc (one entry): wc compiles again.
	third, err := e.Run(context.Background(), wc, []byte("x"), &bytes.Buffer{}, compute.Options{})
	if err != nil || third.Cached {
		t.Fatalf("after eviction: cached=%v err=%v", third.Cached, err)
	}
}

// Runs of one module arriving together share one compile: exactly one of
// them compiles, the others wait for it, and all give the same output.
func TestConcurrentRunsCompileOnce(t *testing.T) {
	const runs = 4
	e := newEngine(t, testConfig())
	wc := computetest.Module(t, computetest.WordCount)
	results := make([]compute.Result, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			results[i], errs[i] = e.Run(context.Background(), wc, []byte("a b\n"), &bytes.Buffer{}, compute.Options{})
		})
	}
	wg.Wait()
	compiled := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		if !r.Cached {
			compiled++
		}
		if r.OutputHash != results[0].OutputHash {
			t.Errorf("run %d output %x, run 0 %x", i, r.OutputHash, results[0].OutputHash)
		}
	}
	if compiled != 1 {
		t.Errorf("%d of %d concurrent runs compiled the module, want 1", compiled, runs)
	}
}

func TestRunCancelled(t *testing.T) {
	e := newEngine(t, testConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := e.Run(ctx, computetest.Module(t, computetest.Loop), nil, &bytes.Buffer{}, compute.Options{})
	if err == nil || errors.Is(err, compute.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled by caller: %v, want the caller's context error", err)
	}
}
