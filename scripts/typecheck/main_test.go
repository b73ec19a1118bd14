package main

import (
	"strings"
	"testing"
)

// TestCheck: a package that compiles for a target passes; one whose
// constant overflows 32-bit ints fails for 32-bit ARM only, one whose
// arm64-only file has a type error fails for arm64 only, each error naming
// its file; a malformed target is refused.
func TestCheck(t *testing.T) {
	tests := []struct {
		target, pkg string
		wantErr     string // in the only error, "" for none
	}{
		{"linux/arm", "./testdata/portable", ""},
		{"linux/arm64", "./testdata/portable", ""},
		{"linux/amd64", "./testdata/wide", ""},
		{"linux/arm", "./testdata/wide", "wide.go:5:15: cannot use 1 << 40"},
		{"linux/arm64", "./testdata/wide", "wide_arm64.go:6:28: cannot use \"sixty-four\""},
	}
	for _, tt := range tests {
		t.Run(tt.target+" "+tt.pkg, func(t *testing.T) {
			n, errs, err := check(tt.target, "", []string{tt.pkg})
			if err != nil || n != 1 {
				t.Fatalf("check = %d packages, %v", n, err)
			}
			switch {
			case tt.wantErr == "" && len(errs) > 0:
				t.Fatalf("errors %v, want none", errs)
			case tt.wantErr != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr)):
				t.Fatalf("errors %v, want one with %q", errs, tt.wantErr)
			}
		})
	}
	for _, target := range []string{"", "linux", "/arm", "linux/"} {
		if _, _, err := check(target, "", []string{"./testdata/portable"}); err == nil {
			t.Errorf("target %q accepted", target)
		}
	}
}
