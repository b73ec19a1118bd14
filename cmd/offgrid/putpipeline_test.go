package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/peerclient"
	"github.com/offgrid-net/offgrid/storage"
)

// BenchmarkPutPipeline256MiB measures what the owner node's put pipeline
// alone can do (read, hash, seal, RS-encode 12/20, sign and send the
// shards over loopback HTTP with the node's shard client, record them in
// its SQLite catalog), next to the seal stage in the same run. Its 20
// hosts are bare HTTP servers that write each shard into a directory of
// their own without fsync: a stand-in for hosts with disks of their own,
// so the one disk of this machine does not set the pace. pipeline-MB/s
// and seal-MB/s are file bytes over wall time; seal-share is the
// pipeline's rate over the seal's (1 would mean sealing is all it does).
//
//	go test -run='^$' -bench=PutPipeline -benchtime=1x ./cmd/offgrid/
func BenchmarkPutPipeline256MiB(b *testing.B) {
	const size = 256 << 20
	var hosts []storage.Candidate
	for i := range benchN {
		dir := b.TempDir()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPut {
				http.Error(w, "only PUT", http.StatusMethodNotAllowed)
				return
			}
			f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(r.URL.Path, "/shards/"), "/", "-")))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, err = io.Copy(f, r.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusCreated)
		}))
		b.Cleanup(srv.Close)
		hosts = append(hosts, storage.Candidate{ID: fmt.Sprintf("host-%d", i), Endpoint: srv.URL, Weight: 1})
	}
	keys, err := identity.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.Cleanup(client.CloseIdleConnections)
	db, err := sqlitedb.Open(b.Context(), filepath.Join(b.TempDir(), "offgrid.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	cat, err := storage.OpenCatalog(b.Context(), db, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	p := &storage.Putter{Catalog: cat, Transport: peerclient.NewShards(client, identity.NewRequestSigner(keys, 1)),
		Config: storage.TransferConfig{Window: 8}}
	plain := make([]byte, size)
	rand.Read(plain)
	key, prefix, err := storage.NewAssetKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	cipher, err := storage.NewSegmentCipher(key, prefix, "bench")
	if err != nil {
		b.Fatal(err)
	}
	segment := storage.SegmentPlainSize(benchK, benchShardSize)
	sealBuf := make([]byte, 0, segment+storage.SegmentOverhead)

	var putTime, sealTime time.Duration
	iter := 0
	for b.Loop() {
		iter++
		m := storage.Manifest{AssetID: fmt.Sprintf("bench-%d", iter), Owner: "bench", Size: size, Mode: "ec",
			K: benchK, N: benchN, ShardSize: benchShardSize, State: storage.StatePending}
		if err := cat.Create(b.Context(), m); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := p.Put(b.Context(), storage.PutRequest{Manifest: m, Key: key, Prefix: prefix, Hosts: hosts}, bytes.NewReader(plain))
		putTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		for stripe, live := range res.Live {
			if live != benchN {
				b.Fatalf("stripe %d: %d shards stored, want %d", stripe, live, benchN)
			}
		}
		// The seal stage alone over the same bytes, in the same run.
		start = time.Now()
		for i, off := uint64(0), 0; off < size; i, off = i+1, off+segment {
			end := min(off+segment, size)
			sealBuf = cipher.Seal(sealBuf[:0], plain[off:end], i, end == size)
		}
		sealTime += time.Since(start)
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/putTime.Seconds(), "pipeline-MB/s")
	b.ReportMetric(mb/sealTime.Seconds(), "seal-MB/s")
	b.ReportMetric(sealTime.Seconds()/putTime.Seconds(), "seal-share")
}
