package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const header = `goos: linux
goarch: amd64
pkg: github.com/offgrid-net/offgrid/ledger
cpu: Test CPU
`

func TestSummarize(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []row
	}{
		{
			name: "figures paired with their group's base=, medians of repeated runs",
			input: header + `BenchmarkReceipts/base=ed25519-sign-2   	  100	  20000 ns/op	 50000 receipts/s	 0 B/op	 0 allocs/op
BenchmarkReceipts/parallel-2   	  100	  40000 ns/op	 25000 receipts/s	 5000 B/op	 60 allocs/op
BenchmarkReceipts/base=ed25519-sign-2   	  100	  25000 ns/op	 40000 receipts/s	 0 B/op	 0 allocs/op
BenchmarkReceipts/parallel-2   	  100	  50000 ns/op	 20000 receipts/s	 5000 B/op	 60 allocs/op
BenchmarkReceipts/base=ed25519-sign-2   	  100	  22000 ns/op	 45000 receipts/s	 0 B/op	 0 allocs/op
BenchmarkReceipts/parallel-2   	  100	  45000 ns/op	 22500 receipts/s	 5000 B/op	 60 allocs/op
`,
			want: []row{{figure: "ledger Receipts/parallel", unit: "receipts/s", value: 22500, baseline: "base=ed25519-sign", base: 45000, ratio: 0.5}},
		},
		{
			name: "a time is compared the other way round; no shared custom unit falls back to ns/op",
			input: header + `BenchmarkStep/base=floor-2   	 10	 1000 ns/op	 3 a-unit
BenchmarkStep/real-2   	 10	 4000 ns/op	 7 b-unit
`,
			want: []row{{figure: "ledger Step/real", unit: "ns/op", value: 4000, baseline: "base=floor", base: 1000, ratio: 0.25}},
		},
		{
			name: "MB/s before ns/op; a benchmark without a baseline is listed alone",
			input: header + `BenchmarkCopy/base=memmove-2   	 10	 1000 ns/op	 2000 MB/s
BenchmarkCopy/ours-2   	 10	 2000 ns/op	 1000 MB/s
BenchmarkAlone-2   	 10	 5 ns/op	 12 things/s
`,
			want: []row{
				{figure: "ledger Copy/ours", unit: "MB/s", value: 1000, baseline: "base=memmove", base: 2000, ratio: 0.5},
				{figure: "ledger Alone", unit: "things/s", value: 12},
			},
		},
		{
			name: "a nested base= is the baseline of its siblings only",
			input: header + `BenchmarkF/w=4/final-2   	 10	 1 ns/op	 50 t/s
BenchmarkF/w=4/base=bound-2   	 10	 1 ns/op	 100 t/s
BenchmarkF/w=7/final-2   	 10	 1 ns/op	 30 t/s
BenchmarkF/w=7/base=bound-2   	 10	 1 ns/op	 40 t/s
BenchmarkF/other-2   	 10	 1 ns/op	 9 t/s
`,
			want: []row{
				{figure: "ledger F/w=4/final", unit: "t/s", value: 50, baseline: "base=bound", base: 100, ratio: 0.5},
				{figure: "ledger F/w=7/final", unit: "t/s", value: 30, baseline: "base=bound", base: 40, ratio: 0.75},
				{figure: "ledger F/other", unit: "t/s", value: 9},
			},
		},
		{
			name: "groups are per package",
			input: header + `BenchmarkX/base=b-2   	 10	 1 ns/op	 10 x/s
pkg: github.com/offgrid-net/offgrid/radio
BenchmarkX/y-2   	 10	 1 ns/op	 5 x/s
`,
			want: []row{{figure: "radio X/y", unit: "x/s", value: 5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parse(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.failures) > 0 {
				t.Errorf("failures = %q, want none", p.failures)
			}
			if diff := cmp.Diff(tt.want, summarize(p.results), cmp.AllowUnexported(row{})); diff != "" {
				t.Errorf("summarize mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunFailures: a failed run still writes its results and the table,
// and run says why it failed.
func TestRunFailures(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string // "" for success
	}{
		{name: "ok", input: header + "BenchmarkA-2 \t 10\t 5 ns/op\nPASS\nok  \tx\t1.0s\n"},
		{name: "no result", input: "PASS\n", wantErr: "no benchmark result"},
		{
			name:    "a benchmark that failed",
			input:   header + "BenchmarkA-2 \t 10\t 5 ns/op\nBenchmarkB\n    b_test.go:9: 50 nodes did not converge within 60 s\n--- FAIL: BenchmarkB\nFAIL\n",
			wantErr: "--- FAIL: BenchmarkB\n    b_test.go:9: 50 nodes did not converge within 60 s",
		},
		{
			name:    "a failure's message after its FAIL line",
			input:   header + "BenchmarkA-2 \t 10\t 5 ns/op\n--- FAIL: BenchmarkPutGet\n    procmesh_test.go:265: offgrid get: exit status 1\n        no shard\nFAIL\n",
			wantErr: "--- FAIL: BenchmarkPutGet\n    procmesh_test.go:265: offgrid get: exit status 1\n    no shard\n  FAIL",
		},
		{
			name:    "at most ten of a failure's messages",
			input:   header + "--- FAIL: BenchmarkLoud\n" + strings.Repeat("    x_test.go:1: again\n", 10) + "    x_test.go:2: the eleventh\nFAIL\n",
			wantErr: "--- FAIL: BenchmarkLoud" + strings.Repeat("\n    x_test.go:1: again", 10) + "\n  FAIL",
		},
		{
			name:    "a timeout names the running benchmark",
			input:   header + "BenchmarkA-2 \t 10\t 5 ns/op\nBenchmarkHang-2 \tpanic: test timed out after 5m0s\n\trunning tests:\n\t\tBenchmarkHang (5m0s)\n",
			wantErr: "panic: test timed out after 5m0s",
		},
		{
			name:    "a benchmark that started and printed nothing more",
			input:   header + "BenchmarkA-2 \t 10\t 5 ns/op\nBenchmarkGone\n",
			wantErr: "ledger.BenchmarkGone: started, no result",
		},
		{
			name:  "a parent of sub-benchmarks has no result line of its own",
			input: header + "BenchmarkG\nBenchmarkG/base=x-2 \t 10\t 5 ns/op\nBenchmarkG/y-2 \t 10\t 6 ns/op\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bench", "results.txt")
			var table, echo bytes.Buffer
			err := run(strings.NewReader(tt.input), &table, &echo, out)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("run() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("run() = %v, want an error containing %q", err, tt.wantErr)
			}
			if echo.String() != tt.input {
				t.Errorf("echo = %q, want the input", echo.String())
			}
			if _, err := os.Stat(out); err != nil {
				t.Errorf("results file: %v", err)
			}
			if !strings.Contains(table.String(), "ratio") {
				t.Errorf("no table printed:\n%s", table.String())
			}
		})
	}
}

// TestResultsFileIsBenchstatInput: the file keeps the configuration and
// result lines, and nothing else.
func TestResultsFileIsBenchstatInput(t *testing.T) {
	in := header + "BenchmarkA-2 \t 10\t 5 ns/op\t 7 x/s\n    a_test.go:3: a log line\nPASS\nok  \tx\t1.0s\n"
	out := filepath.Join(t.TempDir(), "results.txt")
	if err := run(strings.NewReader(in), &bytes.Buffer{}, &bytes.Buffer{}, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := header + "BenchmarkA-2 \t 10\t 5 ns/op\t 7 x/s\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("results file mismatch (-want +got):\n%s", diff)
	}
}
