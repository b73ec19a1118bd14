package fixed

import (
	"errors"
	"testing"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		out  string
	}{
		{"0", 0, "0"},
		{"12", 12_000_000, "12"},
		{"12.5", 12_500_000, "12.5"},
		{"0.000001", 1, "0.000001"},
		{"-3.25", -3_250_000, "-3.25"},
		{"9223372036854.775807", 9223372036854775807, "9223372036854.775807"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
		}
		if s := Format(got); s != tt.out {
			t.Errorf("Format(%d) = %q, want %q", got, s, tt.out)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "-", ".5", "5.", "1.0000001", "1e3", "NaN", "+1", " 1", "1,5", "9223372036855", "99999999999999999999"} {
		if _, err := Parse(in); !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrRange) {
			t.Errorf("Parse(%q) error = %v, want ErrSyntax or ErrRange", in, err)
		}
	}
}

func TestMulCeil(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{1_500_000, 250_000, 375_000},
		{1, 1, 1},
		{0, 5, 0},
		{3, 500_000, 2},
	}
	for _, tt := range tests {
		if got, err := MulCeil(tt.a, tt.b); err != nil || got != tt.want {
			t.Errorf("MulCeil(%d, %d) = %d, %v, want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
	if _, err := MulCeil(1<<62, 1<<62); !errors.Is(err, ErrRange) {
		t.Errorf("MulCeil(huge) error = %v, want ErrRange", err)
	}
	if _, err := MulCeil(-1, 1); !errors.Is(err, ErrRange) {
		t.Errorf("MulCeil(-1, 1) error = %v, want ErrRange", err)
	}
}
