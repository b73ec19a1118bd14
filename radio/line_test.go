package radio

import (
	"bytes"
	"errors"
	"testing"
)

func TestLineRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 3, 4, MinFrame, 150, MaxLineFrame} {
		frame := bytes.Repeat([]byte{0xfb}, n)
		line, err := EncodeLine(frame)
		if err != nil {
			t.Fatalf("EncodeLine(%d bytes): %v", n, err)
		}
		if len(line) > MaxFrame || line[len(line)-1] != '\n' || bytes.IndexByte(line[:len(line)-1], '\n') >= 0 {
			t.Errorf("EncodeLine(%d bytes) = %q: want one line of at most %d bytes", n, line, MaxFrame)
		}
		for _, in := range [][]byte{line, line[:len(line)-1]} {
			got, err := DecodeLine(in)
			if err != nil || !bytes.Equal(got, frame) {
				t.Errorf("DecodeLine(%q) = %x, %v, want %x", in, got, err, frame)
			}
		}
	}
}

func TestEncodeLineTooLarge(t *testing.T) {
	t.Parallel()
	if _, err := EncodeLine(make([]byte, MaxLineFrame+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("EncodeLine(%d bytes) = %v, want ErrTooLarge", MaxLineFrame+1, err)
	}
	line, err := EncodeLine(make([]byte, MaxLineFrame))
	if err != nil || len(line) != MaxFrame {
		t.Errorf("EncodeLine(%d bytes) = %d bytes, %v, want %d bytes", MaxLineFrame, len(line), err, MaxFrame)
	}
}

func TestDecodeLineErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"newline only", "\n", ErrMalformed},
		{"two newlines", "AAAA\n\n", ErrMalformed},
		{"crlf", "AAAA\r\n", ErrMalformed},
		{"inner newline", "AA\nAA", ErrMalformed},
		{"padding", "AA==\n", ErrMalformed},
		{"std alphabet", "AA+/\n", ErrMalformed},
		{"space", "AA AA\n", ErrMalformed},
		{"impossible length", "AAAAA\n", ErrMalformed},
		{"trailing bits", "AB\n", ErrMalformed},
		{"too long", string(bytes.Repeat([]byte{'A'}, MaxFrame+1)), ErrTooLarge},
		{"too long with a newline", string(bytes.Repeat([]byte{'A'}, MaxFrame)), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := DecodeLine([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Errorf("DecodeLine(%q) = %x, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
