package main

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkTransfersHTTP: final transfers per second over the real HTTP
// API of 5 in-process nodes with 4 witnesses on loopback, and the time to
// finality (POST /transfers until its 201, the certificate formed and
// applied at the sender) at the median and the 99th percentile. Two
// clients per node send at once; a node's own transfers are witnessed one
// after another (a witness signs nonce n only once n-1 is final), so the
// five nodes' accounts are the parallelism. baseline-ms is the median of
// a GET /balances on the same mesh in the same run: the floor of one
// request.
//
//	go test -run='^$' -bench=TransfersHTTP -benchtime=200x ./cmd/offgrid/
func BenchmarkTransfersHTTP(b *testing.B) {
	const size, witnesses, clientsPerNode = 5, 4, 2
	m := startMesh(b, size, nil)
	m.installEconomy(b, witnesses, 1000_000000)
	ids := make([]string, size)
	for i := range ids {
		ids[i] = m.nodeID(i)
	}
	var base []time.Duration
	for range 50 {
		t0 := time.Now()
		resp, err := http.Get(m.nodes[0].url + "/balances")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		base = append(base, time.Since(t0))
	}

	var (
		mu      sync.Mutex
		lat     []time.Duration
		failed  int
		lastErr string
		wg      sync.WaitGroup
	)
	jobs := make(chan struct{})
	for w := range size * clientsPerNode {
		src := w % size
		wg.Go(func() {
			for range jobs {
				t0 := time.Now()
				st, body := call(b, m.nodes[src], "POST", "/transfers",
					map[string]string{"dst": ids[(src+1)%size], "amount": "0.000001"})
				d := time.Since(t0)
				mu.Lock()
				if st == http.StatusCreated {
					lat = append(lat, d)
				} else {
					failed++
					lastErr = string(body)
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for b.Loop() {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	if failed > 0 {
		b.Fatalf("%d transfers not final at once, e.g. %s", failed, lastErr)
	}
	b.ReportMetric(float64(len(lat))/took.Seconds(), "final/s")
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
	b.ReportMetric(ms(pct(base, 50)), "baseline-ms")
}

// pct returns the p-th percentile of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
