package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/zeebo/blake3"
)

// failingWriter takes limit bytes, then fails.
type failingWriter struct{ limit int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		return 0, errors.New("disk full")
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestCopyHashing(t *testing.T) {
	data := make([]byte, 3*downloadChunk+5)
	for i := range data {
		data[i] = byte(i * 31)
	}
	tests := []struct {
		name string
		size int
		// src wraps the reader of data[:size]; nil: as it is.
		src func(io.Reader) io.Reader
		// dst, if set, replaces the buffer written to.
		dst     io.Writer
		wantErr string
	}{
		{name: "empty", size: 0},
		{name: "one byte", size: 1},
		{name: "a chunk less one", size: downloadChunk - 1},
		{name: "a chunk", size: downloadChunk},
		{name: "several chunks and a tail", size: len(data)},
		{name: "short reads", size: downloadChunk + 7, src: iotest.HalfReader},
		{name: "more chunks than the pipeline holds", size: len(data), src: iotest.OneByteReader},
		{name: "body broken off", size: 2*downloadChunk + 3,
			src:     func(r io.Reader) io.Reader { return io.MultiReader(r, iotest.ErrReader(io.ErrUnexpectedEOF)) },
			wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "write fails", size: len(data), dst: &failingWriter{limit: downloadChunk}, wantErr: "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(data[:tt.size])
			if tt.src != nil {
				src = tt.src(src)
			}
			var out bytes.Buffer
			dst := io.Writer(&out)
			if tt.dst != nil {
				dst = tt.dst
			}
			h := blake3.New()
			n, err := copyHashing(dst, h, src)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("copyHashing = %d, %v, want error %q", n, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := blake3.Sum256(data[:tt.size])
			if n != int64(tt.size) || !bytes.Equal(out.Bytes(), data[:tt.size]) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("copyHashing copied %d bytes (%d written), want %d with their hash", n, out.Len(), tt.size)
			}
		})
	}
}
