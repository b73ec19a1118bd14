package filebus

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/radio"
)

const poll = 5 * time.Millisecond

func testKeys(t *testing.T, seed byte) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(rand.NewChaCha8([32]byte{seed}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// run runs a link on path until the test ends and returns its packets.
func run(t *testing.T, path string) (*Link, <-chan radio.Packet) {
	t.Helper()
	l, err := New(path, poll)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan radio.Packet, 256)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		runErr = l.Run(ctx, func(p radio.Packet) {
			select {
			case ch <- p:
			default:
				t.Error("packet channel full")
			}
		})
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("Run() = %v, want nil", runErr)
		}
	})
	return l, ch
}

func ping(t *testing.T, k *identity.Keys, counter uint32) []byte {
	t.Helper()
	b, err := radio.EncodeFrame(k, radio.Frame{Type: radio.FramePing, Epoch: 1, Counter: counter, Nonce: counter})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expect waits for the frames with the given nonces, in order, and fails on
// any other frame.
func expect(t *testing.T, ch <-chan radio.Packet, nonces ...uint32) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for _, want := range nonces {
		select {
		case p := <-ch:
			f, err := radio.DecodeFrame(p.Data)
			if err != nil {
				t.Fatalf("DecodeFrame(delivered %x): %v", p.Data, err)
			}
			if f.Nonce != want || p.Via != radio.ViaFile {
				t.Fatalf("got frame with nonce %d via %s, want nonce %d via file", f.Nonce, p.Via, want)
			}
		case <-deadline.C:
			t.Fatalf("no frame with nonce %d after 5s", want)
		}
	}
}

// quiet fails if a packet arrives within a few polls.
func quiet(t *testing.T, ch <-chan radio.Packet) {
	t.Helper()
	timer := time.NewTimer(20 * poll)
	defer timer.Stop()
	select {
	case p := <-ch:
		t.Fatalf("unexpected packet %x", p.Data)
	case <-timer.C:
	}
}

func appendRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// waitStarted sends probe frames from l until ch receives one, so that the
// tail behind ch has started; it drains the probes.
func waitStarted(t *testing.T, l *Link, ch <-chan radio.Packet, k *identity.Keys) {
	t.Helper()
	tick := time.NewTicker(5 * poll)
	defer tick.Stop()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	if err := l.Send(t.Context(), ping(t, k, 0)); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case <-ch:
			// Drain the other probes.
			for {
				select {
				case <-ch:
				case <-time.After(10 * poll):
					return
				}
			}
		case <-tick.C:
			if err := l.Send(t.Context(), ping(t, k, 0)); err != nil {
				t.Fatal(err)
			}
		case <-deadline.C:
			t.Fatal("link did not start")
		}
	}
}

func TestExchange(t *testing.T) {
	testutil.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "bus")
	ka, kb := testKeys(t, 1), testKeys(t, 2)
	a, cha := run(t, path)
	b, chb := run(t, path)
	waitStarted(t, a, chb, ka)
	waitStarted(t, b, cha, kb)
	drain(cha)
	drain(chb)
	for i := uint32(1); i <= 5; i++ {
		if err := a.Send(t.Context(), ping(t, ka, i)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(t.Context(), ping(t, kb, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	// Each link also reads its own lines (the receiver drops them): a link
	// sees all ten, in file order.
	for _, ch := range []<-chan radio.Packet{cha, chb} {
		expect(t, ch, 1, 101, 2, 102, 3, 103, 4, 104, 5, 105)
	}
}

func drain(ch <-chan radio.Packet) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestGarbageIgnored(t *testing.T) {
	testutil.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "bus")
	k := testKeys(t, 1)
	a, ch := run(t, path)
	waitStarted(t, a, ch, k)
	line, err := radio.EncodeLine(ping(t, k, 1))
	if err != nil {
		t.Fatal(err)
	}
	appendRaw(t, path, "garbage\n\n!!!not base64!!!\nAA==\n"+strings.Repeat("A", 5000)+"\n"+strings.Repeat("B", 300))
	appendRaw(t, path, "\n") // ends the over-long line
	appendRaw(t, path, string(line))
	if err := a.Send(t.Context(), ping(t, k, 2)); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, 1, 2)
	quiet(t, ch)
}

func TestLateStartSeesOnlyNewLines(t *testing.T) {
	testutil.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "bus")
	k := testKeys(t, 1)
	early, err := New(path, poll)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint32(1); i <= 3; i++ {
		if err := early.Send(t.Context(), ping(t, k, i)); err != nil {
			t.Fatal(err)
		}
	}
	late, ch := run(t, path)
	// Probes have nonce 0; anything old (nonce 1..3) fails expect below.
	waitStarted(t, late, ch, k)
	if err := early.Send(t.Context(), ping(t, k, 4)); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, 4)
}

func TestTruncateAndRotate(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "bus")
	k := testKeys(t, 1)
	l, ch := run(t, path) // the file does not exist yet
	waitStarted(t, l, ch, k)
	for i := uint32(1); i <= 20; i++ {
		if err := l.Send(t.Context(), ping(t, k, i)); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, ch, seq(1, 20)...)

	// Truncate, then write less than was there: read from the start.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(t.Context(), ping(t, k, 21)); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, 21)

	// Rotate: a new file at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(t.Context(), ping(t, k, 22)); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, 22)
	quiet(t, ch)
}

func seq(from, to uint32) []uint32 {
	var s []uint32
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestSendTooLarge(t *testing.T) {
	l, err := New(filepath.Join(t.TempDir(), "bus"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.MTU() != radio.MaxLineFrame || l.Via() != radio.ViaFile || l.poll != DefaultPoll {
		t.Errorf("New() = MTU %d, via %s, poll %v", l.MTU(), l.Via(), l.poll)
	}
	if err := l.Send(t.Context(), make([]byte, l.MTU()+1)); !errors.Is(err, radio.ErrTooLarge) {
		t.Errorf("Send(%d bytes) = %v, want ErrTooLarge", l.MTU()+1, err)
	}
	if err := l.Send(t.Context(), make([]byte, l.MTU())); err != nil {
		t.Errorf("Send(%d bytes) = %v, want nil", l.MTU(), err)
	}
	if _, err := New("", 0); err == nil {
		t.Error("New(\"\") succeeded, want an error")
	}
}

// TestTailPartialLine drives a tail by hand: a line written in pieces, and
// over-long lines split across polls.
func TestTailPartialLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bus")
	k := testKeys(t, 1)
	line, err := radio.EncodeLine(ping(t, k, 7))
	if err != nil {
		t.Fatal(err)
	}
	tl := &tail{path: path, buf: make([]byte, 64)} // small reads: lines span polls
	defer tl.close()
	tl.start() // no file yet
	var got [][]byte
	poll := func() { tl.poll(func(b []byte) { got = append(got, b) }) }
	steps := []string{
		string(line[:10]), string(line[10:]), // one line in two writes
		strings.Repeat("x", 150), strings.Repeat("y", 150), "\n", // an over-long line over several polls
		string(line), string(line), // two lines, read over several polls
	}
	for _, s := range steps {
		appendRaw(t, path, s)
		for range 5 {
			poll()
		}
	}
	if len(got) != 3 {
		t.Fatalf("tail delivered %d frames, want 3", len(got))
	}
	for _, b := range got {
		if f, err := radio.DecodeFrame(b); err != nil || f.Nonce != 7 {
			t.Errorf("delivered frame %x: %+v, %v", b, f, err)
		}
	}
}
