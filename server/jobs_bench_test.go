package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/compute"
	"github.com/offgrid-net/offgrid/compute/computetest"
	"github.com/offgrid-net/offgrid/node/jobs"
)

// BenchmarkJobs: a word count brokered end to end (submit, quotes,
// dispatch, quorum, output) with r = 1 and r = 3 on 3 hosts, against the
// same module run directly with wazero (cached) in the same run: the
// difference is the broker's overhead per job.
func BenchmarkJobs(b *testing.B) {
	wc := computetest.Module(b, computetest.WordCount)
	input := bytes.Repeat([]byte("the quick brown fox\n"), 50)
	b.Run("direct", func(b *testing.B) {
		cfg := jobTestConfig(jobs.Hooks{}).Limits
		e, err := compute.New(context.Background(), cfg)
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
	broker, _ := jobMesh(b, []jobs.Hooks{{}, {}, {}})
	for _, r := range []int{1, 3} {
		b.Run(fmt.Sprintf("r=%d", r), func(b *testing.B) {
			for b.Loop() {
				resp := submitJob(b, broker, wc, input, fmt.Sprintf("r=%d", r))
				if resp.StatusCode != http.StatusAccepted {
					b.Fatalf("submit: %d %s", resp.StatusCode, resp.body)
				}
				var j gen.Job
				decodeJSON(b, resp, &j)
				if j = waitJob(b, broker, j.Id, time.Minute); j.State != "done" {
					b.Fatalf("job %s", j.State)
				}
			}
		})
	}
}

// BenchmarkQuoteRound: one quote round across 20 hosts on loopback, as the
// broker runs it (concurrent, bounded by QuoteTimeout); median and p99.
func BenchmarkQuoteRound(b *testing.B) {
	hooks := make([]jobs.Hooks, 20)
	broker, hosts := jobMesh(b, hooks)
	client := broker.Client
	var took []time.Duration
	body := []byte(`{"module_hash":"` + string(bytes.Repeat([]byte("a"), 64)) + `","module_size":1000,"input_size":10,"timeout_s":5}`)
	for b.Loop() {
		start := time.Now()
		done := make(chan error, len(hosts))
		for _, h := range hosts {
			go func() {
				req := newRequest(b, h, http.MethodPost, "/jobs/quote", body, true)
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
		}
		for range hosts {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		took = append(took, time.Since(start))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkJobsThroughput: jobs per second with 5 hosts and r = 2, 20 jobs
// submitted at once per iteration.
func BenchmarkJobsThroughput(b *testing.B) {
	wc := computetest.Module(b, computetest.WordCount)
	broker, _ := jobMesh(b, make([]jobs.Hooks, 5))
	const batch = 20
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		ids := make([]string, batch)
		for i := range batch {
			resp := submitJob(b, broker, wc, []byte("a b c"), "r=2")
			var j gen.Job
			decodeJSON(b, resp, &j)
			ids[i] = j.Id
		}
		for _, id := range ids {
			if j := waitJob(b, broker, id, time.Minute); j.State != "done" {
				b.Fatalf("job %s", j.State)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(batch*b.N)/total.Seconds(), "jobs/s")
}
