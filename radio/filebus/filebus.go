package filebus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/offgrid-net/offgrid/radio"
)

// DefaultPoll is the poll interval New uses when given one of 0 or less.
const DefaultPoll = 200 * time.Millisecond

// MaxReadPerPoll bounds how many bytes a link reads from the file in one
// poll.
const MaxReadPerPoll = 64 << 10

// Link is a radio.Link over a shared file. Send and Run are safe to call
// concurrently; Send works whether or not Run is running.
type Link struct {
	path string
	poll time.Duration
}

var _ radio.Link = (*Link)(nil)

// New returns a link on the file at path, which need not exist yet (Send
// creates it with mode 0644; Run waits for it), polling it every poll
// (DefaultPoll if poll <= 0). Shorter polls hear frames sooner and cost a
// stat and a read per poll.
func New(path string, poll time.Duration) (*Link, error) {
	if path == "" {
		return nil, errors.New("filebus: empty path")
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	return &Link{path: path, poll: poll}, nil
}

// Via returns radio.ViaFile.
func (l *Link) Via() radio.Via { return radio.ViaFile }

// MTU returns radio.MaxLineFrame: a line holds at most radio.MaxFrame
// bytes.
func (l *Link) MTU() int { return radio.MaxLineFrame }

// Send appends frame to the file as one line, in one write.
func (l *Link) Send(ctx context.Context, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := radio.EncodeLine(frame)
	if err != nil {
		return fmt.Errorf("filebus send: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("filebus send: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("filebus send: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("filebus send: %w", err)
	}
	return nil
}

// Run tails the file until ctx ends (see the package comment). It returns
// nil after ctx ends; errors reading the file are retried at the next poll.
func (l *Link) Run(ctx context.Context, deliver func(radio.Packet)) error {
	t := &tail{path: l.path, buf: make([]byte, MaxReadPerPoll)}
	defer t.close()
	t.start()
	tick := time.NewTicker(l.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		t.poll(func(frame []byte) {
			deliver(radio.Packet{Data: frame, Via: radio.ViaFile, From: l.path})
		})
	}
}

// tail follows a file by polling. It is used by one goroutine.
type tail struct {
	path     string
	f        *os.File // nil when not open
	info     fs.FileInfo
	off      int64  // next byte to read
	partial  []byte // the start of an incomplete line
	skipping bool   // discarding an over-long line up to its newline
	buf      []byte // read buffer of MaxReadPerPoll bytes
}

// start opens the file, if it exists, at its end.
func (t *tail) start() {
	if t.open() == nil {
		t.off = t.info.Size()
	}
}

// open opens the file at the path and reads from its start.
func (t *tail) open() error {
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	t.close()
	t.f, t.info, t.off = f, info, 0
	return nil
}

func (t *tail) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	t.partial = t.partial[:0]
	t.skipping = false
}

// poll reads what was appended since the last poll and calls frame with
// each decoded line.
func (t *tail) poll(frame func([]byte)) {
	info, err := os.Stat(t.path)
	switch {
	case err != nil:
		return // gone (maybe being rotated): keep what is open until it is back
	case t.f == nil || !os.SameFile(info, t.info):
		// First appearance, or replaced: read the new file from its start.
		if t.open() != nil {
			return
		}
	case info.Size() < t.off:
		// Truncated: read from the start.
		t.close()
		if t.open() != nil {
			return
		}
	}
	n, err := t.f.ReadAt(t.buf, t.off)
	if err != nil && !errors.Is(err, io.EOF) {
		t.close() // reopen at the next poll
		return
	}
	t.off += int64(n)
	data := t.buf[:n]
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			t.keep(data)
			return
		}
		line := data[:i+1]
		data = data[i+1:]
		if t.skipping {
			t.skipping = false
			continue
		}
		if len(t.partial) > 0 {
			line = append(t.partial, line...)
			t.partial = t.partial[:0]
		}
		if len(line) > radio.MaxFrame {
			continue
		}
		if b, err := radio.DecodeLine(line); err == nil {
			frame(b) // DecodeLine returns a fresh slice
		}
	}
}

// keep saves the start of an incomplete line, or starts skipping it when it
// is already longer than a line may be.
func (t *tail) keep(data []byte) {
	if t.skipping {
		return
	}
	if len(t.partial)+len(data) > radio.MaxFrame {
		t.partial = t.partial[:0]
		t.skipping = true
		return
	}
	t.partial = append(t.partial, data...)
}
