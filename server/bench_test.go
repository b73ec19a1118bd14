package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/offgrid-net/offgrid/server/servertest"
)

// benchGet sends GET url from parallel goroutines over keep-alive
// connections and reports requests per second.
func benchGet(b *testing.B, url string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("GET %s = %d, want 200", url, resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkQuote measures GET /quote through the whole server (host
// allow-list, CSRF, metrics, spec validation, strict handler, SQLite read)
// over loopback, against its floor in the same run: a bare net/http
// handler writing a quote-sized JSON body over loopback.
func BenchmarkQuote(b *testing.B) {
	b.Run("base=bare-handler", func(b *testing.B) {
		body := []byte(`{"node_id":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK","type":"compute","size":"2.5","unit_price":"1","price":"2.5"}` + "\n")
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		defer ts.Close()
		benchGet(b, ts.URL+"/quote?type=compute&size=2.5")
	})
	b.Run("server", func(b *testing.B) {
		tn := servertest.Start(b, servertest.Options{})
		benchGet(b, tn.URL+"/quote?type=compute&size=2.5")
	})
}
