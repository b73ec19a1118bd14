package compute_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/offgrid-net/offgrid/compute"
	"github.com/offgrid-net/offgrid/compute/computetest"
)

// BenchmarkRun: a word count of a small input, with the module compiled for
// every run (cold: a fresh engine) and from the cache (cached, the direct-run
// baseline for the broker's overhead).
func BenchmarkRun(b *testing.B) {
	wc := computetest.Module(b, computetest.WordCount)
	input := bytes.Repeat([]byte("the quick brown fox\n"), 50)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			e, err := compute.New(context.Background(), testConfig())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Run(context.Background(), wc, input, &bytes.Buffer{}, compute.Options{}); err != nil {
				b.Fatal(err)
			}
			_ = e.Close(context.Background())
		}
	})
	b.Run("cached", func(b *testing.B) {
		e, err := compute.New(context.Background(), testConfig())
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close(context.Background())
		if _, err := e.Run(context.Background(), wc, input, &bytes.Buffer{}, compute.Options{}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := e.Run(context.Background(), wc, input, &bytes.Buffer{}, compute.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
