package jobs

import (
	"bytes"
	"errors"
	"testing"

	"github.com/offgrid-net/offgrid/node/nodeerr"
)

func TestSplitBody(t *testing.T) {
	mod := []byte("\x00asm\x01\x00\x00\x00")
	tests := []struct {
		name       string
		body       []byte
		size       int64
		err        error
		module, in string
	}{
		{"module and input", append(bytes.Clone(mod), "hello"...), 8, nil, string(mod), "hello"},
		{"no input", mod, 8, nil, string(mod), ""},
		{"size past the body", mod, 9, nodeerr.ErrInvalid, "", ""},
		{"size too small", mod, 3, nodeerr.ErrInvalid, "", ""},
		{"module too large", append(bytes.Clone(mod), make([]byte, 100)...), 20, nodeerr.ErrInvalid, "", ""},
		{"input too large", append(bytes.Clone(mod), make([]byte, 17)...), 8, nodeerr.ErrTooLarge, "", ""},
		{"not wasm", []byte("#!/bin/sh\necho"), 8, nodeerr.ErrInvalid, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, in, err := SplitBody(tt.body, tt.size, 16, 16)
			if !errors.Is(err, tt.err) || (err == nil && (string(m) != tt.module || string(in) != tt.in)) {
				t.Fatalf("SplitBody = %q, %q, %v", m, in, err)
			}
		})
	}
}

func FuzzSplitBody(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00input"), int64(8))
	f.Add([]byte("\x00asm"), int64(4))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		m, in, err := SplitBody(b, size, 1<<10, 1<<10)
		if err != nil {
			return
		}
		if int64(len(m)) != size || len(m)+len(in) != len(b) || !bytes.HasPrefix(m, []byte("\x00asm")) || len(in) > 1<<10 {
			t.Fatalf("SplitBody(%d bytes, %d) = %d + %d bytes", len(b), size, len(m), len(in))
		}
		// The module's capacity ends where it does: appending to it never
		// overwrites the input.
		if cap(m) != len(m) {
			t.Fatal("module shares capacity with the input")
		}
	})
}
