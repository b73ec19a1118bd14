package fixed

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Scale is the number of micro units in one whole unit.
const Scale = 1_000_000

// ErrSyntax reports a string that is not a decimal with at most six
// fractional digits.
var ErrSyntax = errors.New("not a decimal with at most 6 fractional digits")

// ErrRange reports a value that does not fit in an int64 of micro units.
var ErrRange = errors.New("decimal out of range")

// Parse reads s ("12", "-0.5", "3.000001") as micro units.
func Parse(s string) (int64, error) {
	if len(s) == 0 || len(s) > 40 {
		return 0, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	neg := false
	rest := s
	if rest[0] == '-' {
		neg, rest = true, rest[1:]
	}
	whole, frac, hasDot := strings.Cut(rest, ".")
	if whole == "" || (hasDot && frac == "") || len(frac) > 6 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/Scale {
		return 0, fmt.Errorf("%q: %w", s, ErrRange)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	v := w*Scale + f
	if v < 0 {
		return 0, fmt.Errorf("%q: %w", s, ErrRange)
	}
	if neg {
		v = -v
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Format writes v micro units as a decimal without trailing fractional zeros
// ("12.5", "3", "-0.000001").
func Format(v int64) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	s := strconv.FormatUint(u/Scale, 10)
	if frac := u % Scale; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MulCeil returns a*b/Scale rounded up (towards +inf) for non-negative a and
// b: the price of b micro units at a micro per whole unit. It reports
// ErrRange when the result does not fit.
func MulCeil(a, b int64) (int64, error) {
	if a < 0 || b < 0 {
		return 0, fmt.Errorf("multiply %d by %d: %w", a, b, ErrRange)
	}
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	p.Add(p, big.NewInt(Scale-1))
	p.Quo(p, big.NewInt(Scale))
	if !p.IsInt64() {
		return 0, fmt.Errorf("multiply %d by %d: %w", a, b, ErrRange)
	}
	return p.Int64(), nil
}
