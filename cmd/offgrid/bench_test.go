package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/storage"
)

// The storage benchmarks: a whole put and get on a mesh of 20 `offgrid
// node` processes on loopback, with the CLI as its own process
// (procmesh_test.go), the owner's put pipeline alone (putpipeline_test.go)
// and, for comparison in the same run, each stage of the pipeline alone.
// The stage benchmarks report "data-MB/s": their rate in bytes of the
// user's file, so network and disk rates are divided by the expansion n/k
// (every byte of the file becomes n/k bytes of shards on the wire and on
// disk). The slowest stage's data-MB/s bounds what put and get can reach.
//
//	go test -run='^$' -bench=. -benchtime=2s ./cmd/offgrid/   (what make bench runs)
//	go test -run='^$' -bench=PutGet -benchtime=1x ./cmd/offgrid/

const (
	benchK         = 12
	benchN         = 20
	benchShardSize = 1 << 20
)

// reportDataRate reports the benchmark's rate in MB/s of file data, for a
// stage that moves expansion bytes per byte of the file.
func reportDataRate(b *testing.B, bytesPerOp int64, expansion float64) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/1e6/s/expansion, "data-MB/s")
	}
}

// processCPU returns the CPU time, user and system, this process used so
// far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStageSeal seals 1 MiB segments with XChaCha20-Poly1305 on one
// goroutine, as storage.SegmentCipher does for each stripe.
func BenchmarkStageSeal(b *testing.B) {
	key, prefix, err := storage.NewAssetKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	c, err := storage.NewSegmentCipher(key, prefix, "bench")
	if err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, 1<<20)
	rand.Read(plain)
	dst := make([]byte, 0, len(plain)+storage.SegmentOverhead)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		dst = c.Seal(dst[:0], plain, i, false)
		i++
	}
	reportDataRate(b, int64(len(plain)), 1)
}

// BenchmarkStageRSEncode12of20 codes a 12 MiB stripe into 20 shards of
// 1 MiB with the public Encode (which allocates the shards, as a put of
// one stripe does). Its bytes are the 12 MiB of data.
func BenchmarkStageRSEncode12of20(b *testing.B) {
	c, err := storage.NewCoder(benchK, benchN)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, benchK*benchShardSize)
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(data, benchShardSize); err != nil {
			b.Fatal(err)
		}
	}
	reportDataRate(b, int64(len(data)), 1)
}

// BenchmarkStageLoopbackPUT1MiB PUTs 1 MiB bodies to a bare HTTP server on
// 127.0.0.1 that reads and discards them, from 8 concurrent clients over
// keep-alive connections: the wire part of sending shards. data-MB/s
// divides by n/k = 20/12.
func BenchmarkStageLoopbackPUT1MiB(b *testing.B) {
	const clients = 8
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := make([]byte, 1<<20)
	rand.Read(body)

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				req, err := http.NewRequest(http.MethodPut, srv.URL+"/shards/x/0", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("PUT answered %s", resp.Status)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	reportDataRate(b, int64(len(body)), float64(benchN)/benchK)
}

// BenchmarkStageFsync1MiB writes 1 MiB shards durably the way the shard
// store does: a new temp file, write, fsync, close, rename into place,
// fsync the directory. One goroutine. data-MB/s divides by n/k = 20/12.
func BenchmarkStageFsync1MiB(b *testing.B) {
	tmpDir, blobDir := shardDirs(b)
	data := make([]byte, 1<<20)
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		writeShardFile(b, tmpDir, blobDir, fmt.Sprintf("%08d", i), data)
		i++
	}
	reportDataRate(b, int64(len(data)), float64(benchN)/benchK)
}

// oneDiskBound writes the shards of one 256 MiB put per iteration (20/12
// of it, in 1 MiB files) as BenchmarkStageFsync1MiB does, from 8
// goroutines at once, as a busy mesh writes shards: a put keeps 8 shard
// transfers in flight and each node stores up to 4 at a time. Its
// data-MB/s, file bytes per second, is the one-disk bound of a put (issue
// 12 wants a put at 0.95 of it); put-cpu-s is the CPU time these writes
// alone take per put, to set beside a put's. One iteration is a whole
// put's writes, so even -benchtime=1x measures hundreds of them.
func oneDiskBound(b *testing.B) {
	const (
		writers = 8
		shard   = 1 << 20
		size    = 256 << 20
		shards  = size / benchK * benchN / shard
	)
	tmpDir, blobDir := shardDirs(b)
	data := make([]byte, shard)
	rand.Read(data)
	b.ReportAllocs()
	var cpu time.Duration
	var written int64
	for b.Loop() {
		start := processCPU(b)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for i := next.Add(1); i <= shards; i = next.Add(1) {
					writeShardFile(b, tmpDir, blobDir, fmt.Sprintf("%08d", written+i), data)
				}
			})
		}
		wg.Wait()
		written += shards
		cpu += processCPU(b) - start
	}
	reportDataRate(b, size, 1)
	b.ReportMetric(cpu.Seconds()/float64(b.N), "put-cpu-s")
}

// shardDirs makes a temp and a blob directory, as in a shard store.
func shardDirs(b *testing.B) (tmpDir, blobDir string) {
	dir := b.TempDir()
	tmpDir = filepath.Join(dir, "tmp")
	blobDir = filepath.Join(dir, "blobs")
	for _, d := range []string{tmpDir, blobDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			b.Fatal(err)
		}
	}
	return tmpDir, blobDir
}

// writeShardFile stores data as blobDir/name durably, the way
// storage.ShardStore.Put does. It may be called from several goroutines
// (so it reports with Error and returns rather than Fatal).
func writeShardFile(b *testing.B, tmpDir, blobDir, name string, data []byte) {
	f, err := os.CreateTemp(tmpDir, "shard-*")
	if err != nil {
		b.Error(err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		b.Error(err)
		return
	}
	if err := f.Sync(); err != nil {
		b.Error(err)
		return
	}
	if err := f.Close(); err != nil {
		b.Error(err)
		return
	}
	if err := os.Rename(f.Name(), filepath.Join(blobDir, name)); err != nil {
		b.Error(err)
		return
	}
	d, err := os.Open(blobDir)
	if err != nil {
		b.Error(err)
		return
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		b.Error(err)
	}
}

// markFile overwrites the first 8 bytes of path with iter, making it a new
// file to the mesh.
func markFile(tb testing.TB, path string, iter uint64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var mark [8]byte
	binary.BigEndian.PutUint64(mark[:], iter)
	if _, err := f.WriteAt(mark[:], 0); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}
