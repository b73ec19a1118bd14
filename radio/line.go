package radio

import (
	"encoding/base64"
	"fmt"
)

// MaxLineFrame is the largest frame in bytes whose line encoding (with its
// newline) fits in MaxFrame: the MTU of line-encoded links.
const MaxLineFrame = (MaxFrame - 1) * 6 / 8

// lineEncoding is base64url without padding; Strict refuses non-zero
// trailing bits, so that every frame has one line.
var lineEncoding = base64.RawURLEncoding.Strict()

// EncodeLine returns frame as one line: base64url without padding, then
// "\n". It returns an error wrapping ErrTooLarge if the line would be longer
// than MaxFrame bytes, that is if frame is longer than MaxLineFrame.
func EncodeLine(frame []byte) ([]byte, error) {
	n := lineEncoding.EncodedLen(len(frame)) + 1
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: line of %d bytes, max %d", ErrTooLarge, n, MaxFrame)
	}
	line := make([]byte, 0, n)
	line = lineEncoding.AppendEncode(line, frame)
	return append(line, '\n'), nil
}

// DecodeLine returns the frame bytes of line, which may end in one "\n". It
// is strict: nothing but the base64url alphabet, no padding, zero trailing
// bits, not empty. Errors wrap ErrMalformed, or ErrTooLarge for a line longer
// than MaxFrame with its newline (so DecodeLine accepts exactly the lines
// EncodeLine makes, with or without the newline).
func DecodeLine(line []byte) ([]byte, error) {
	if len(line) > MaxFrame {
		return nil, fmt.Errorf("%w: line of %d bytes, max %d", ErrTooLarge, len(line), MaxFrame)
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if len(line) > MaxFrame-1 {
		// The line would not fit with its newline.
		return nil, fmt.Errorf("%w: line of %d bytes without its newline, max %d", ErrTooLarge, len(line), MaxFrame-1)
	}
	if len(line) == 0 {
		return nil, fmt.Errorf("%w: empty line", ErrMalformed)
	}
	// The decoder skips '\r' and '\n'; refuse them (and all else outside
	// the alphabet) here.
	for i, c := range line {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return nil, fmt.Errorf("%w: line byte %d is not base64url", ErrMalformed, i)
		}
	}
	out := make([]byte, lineEncoding.DecodedLen(len(line)))
	n, err := lineEncoding.Decode(out, line)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return out[:n], nil
}
