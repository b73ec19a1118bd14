package canon

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"
)

func TestAppend(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string // hex
	}{
		{"empty string", AppendString(nil, ""), "00000000"},
		{"string", AppendString([]byte{0xff}, "ab"), "ff" + "00000002" + "6162"},
		{"no strings", AppendStrings(nil, nil), "00000000"},
		{"strings", AppendStrings(nil, []string{"a", "", "bc"}), "00000003" + "0000000161" + "00000000" + "000000026263"},
		// The length prefix tells "ab","c" from "a","bc".
		{"split one way", AppendStrings(nil, []string{"ab", "c"}), "00000002" + "000000026162" + "0000000163"},
		{"split the other", AppendStrings(nil, []string{"a", "bc"}), "00000002" + "0000000161" + "000000026263"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(tt.got); got != tt.want {
				t.Errorf("encoding = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLowerHex(t *testing.T) {
	tests := []struct {
		in    string
		n     int
		want  []byte // nil: an error
		lower bool   // IsLowerHex(in)
	}{
		{"00ff7a", 3, []byte{0x00, 0xff, 0x7a}, true},
		{"", 0, []byte{}, true},
		{"00FF7A", 3, nil, false},
		{"00ff7", 3, nil, true},
		{"00ff7a00", 3, nil, true},
		{"00fg7a", 3, nil, false},
		{"00 f7a", 3, nil, false},
		{"+0ff7a", 3, nil, false},
	}
	for _, tt := range tests {
		got, err := LowerHex(tt.in, tt.n)
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("LowerHex(%q, %d) = %x, want an error", tt.in, tt.n, got)
		case tt.want != nil && (err != nil || !bytes.Equal(got, tt.want)):
			t.Errorf("LowerHex(%q, %d) = %x, %v, want %x", tt.in, tt.n, got, err, tt.want)
		}
		if got := IsLowerHex(tt.in); got != tt.lower {
			t.Errorf("IsLowerHex(%q) = %v, want %v", tt.in, got, tt.lower)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type doc struct {
		A string `json:"a"`
		B inner  `json:"b"`
	}
	tests := []struct {
		name string
		in   string
		want doc
		ok   bool
	}{
		{"exact", `{"a":"x","b":{"n":1}}`, doc{"x", inner{1}}, true},
		{"white space after", "{\"a\":\"x\"}\n\t ", doc{A: "x"}, true},
		{"missing fields stay zero", `{}`, doc{}, true},
		{"unknown field", `{"a":"x","c":1}`, doc{}, false},
		{"unknown nested field", `{"b":{"n":1,"m":2}}`, doc{}, false},
		{"second value", `{"a":"x"}{"a":"y"}`, doc{}, false},
		{"trailing garbage", `{"a":"x"} x`, doc{}, false},
		{"trailing brace", `{"a":"x"}}`, doc{}, false},
		{"wrong type", `{"a":1}`, doc{}, false},
		{"empty", ``, doc{}, false},
		{"truncated", `{"a":"x"`, doc{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got doc
			err := DecodeJSON([]byte(tt.in), &got)
			if (err == nil) != tt.ok {
				t.Fatalf("DecodeJSON(%s) = %v, want ok %v", tt.in, err, tt.ok)
			}
			if tt.ok && got != tt.want {
				t.Errorf("DecodeJSON(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzLowerHex: LowerHex accepts exactly the strings that are the
// lower-case hex encoding of n bytes, and returns those bytes.
func FuzzLowerHex(f *testing.F) {
	for _, s := range []string{"", "00", "ff", "FF", "0g", "abc", "0123456789abcdef", " 00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := len(s) / 2
		b, err := LowerHex(s, n)
		canonical := len(s)%2 == 0 && IsLowerHex(s)
		if (err == nil) != canonical {
			t.Fatalf("LowerHex(%q, %d) = %v, want ok %v", s, n, err, canonical)
		}
		if err == nil && hex.EncodeToString(b) != s {
			t.Fatalf("LowerHex(%q, %d) = %x, which encodes differently", s, n, b)
		}
	})
}

// FuzzDecodeJSON: what DecodeJSON accepts is one valid JSON value with
// nothing after it but white space.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":1} `, `{"a":1}{}`, `[1,2]`, `"x"`, `1 2`, `null`, ``, `{"a":`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if err := DecodeJSON(b, &v); err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("DecodeJSON(%q) accepted what is not one JSON value", b)
		}
	})
}
