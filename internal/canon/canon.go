package canon

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// AppendString appends s to b as its length (big-endian uint32) and bytes.
func AppendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendStrings appends the count of xs (big-endian uint32) and then each
// string as AppendString does.
func AppendStrings(b []byte, xs []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(xs)))
	for _, x := range xs {
		b = AppendString(b, x)
	}
	return b
}

// IsLowerHex reports whether s consists of the digits 0-9 and a-f only.
func IsLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// LowerHex decodes s, which must be lower-case hex of exactly n bytes.
func LowerHex(s string, n int) ([]byte, error) {
	if len(s) != 2*n {
		return nil, fmt.Errorf("%d hex digits, want %d", len(s), 2*n)
	}
	if !IsLowerHex(s) {
		return nil, errors.New("not lower-case hex")
	}
	return hex.DecodeString(s)
}

// DecodeJSON decodes exactly one JSON value from b into v, refusing unknown
// object fields and anything but white space after the value.
func DecodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
