package web

import (
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/node"
)

// TestStalledUploadOnFeed: a put whose client stops sending shows on the
// live feed as an upload_stalled alert naming the file and its progress.
func TestStalledUploadOnFeed(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{node: func(c *node.Config) { c.Assets.StallAge = 200 * time.Millisecond }})
	cookie := e.login(t)
	feed := e.dialFeed(t, cookie)
	data := make([]byte, 64<<10)
	rand.Read(data)
	pr, pw := io.Pipe()
	put := make(chan error, 1)
	go func() {
		_, err := e.node.PutAsset(t.Context(), pr, node.PutOptions{Name: "stuck.bin", Size: int64(len(data)), Mode: "rep", R: 1})
		put <- err
	}()
	if _, err := pw.Write(data[:2048]); err != nil {
		t.Fatal(err)
	}
	msg := readUntil(t, feed, `data-kind="upload_stalled"`)
	wantAll(t, "stalled upload on the feed", msg, "Upload of stuck.bin", "stalled", "2.0 KiB of 64.0 KiB so far")
	if _, err := pw.Write(data[2048:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-put; err != nil {
		t.Fatalf("the put after the client went on: %v", err)
	}
}
