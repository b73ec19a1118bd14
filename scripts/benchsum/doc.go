// Benchsum reads the output of `go test -bench` on stdin, echoes it to
// stderr as it comes (so a long run shows progress), writes the benchmark
// results to a file benchstat reads (-o, default bench/results.txt), and
// prints one summary table: each figure, its baseline measured in the same
// run, and their ratio. It exits 1, saying why, when the run failed (a
// FAIL line, a panic or timeout, a benchmark that started and gave no
// result) or gave no result at all.
//
// Pairing rule: a benchmark's sub-benchmark named "base=<what>" is the
// baseline of its siblings. So BenchmarkReceipts/base=ed25519-sign is the
// baseline of BenchmarkReceipts/parallel and BenchmarkReceipts/serial, in
// the same package; at any depth, BenchmarkFinalTransfers/witnesses=4/
// base=ed25519-bound is the baseline of BenchmarkFinalTransfers/
// witnesses=4/final only. A benchmark without such a sibling is listed without
// a baseline. The figure and its baseline are compared on the first unit
// they both report: their custom units first (b.ReportMetric, in the
// order Go prints them), then MB/s, then ns/op. The ratio is figure over
// baseline for a rate (a unit with "/s"), and baseline over figure for
// anything else (a time), so above 1 always means the figure is better.
// With -count above 1 the table shows medians; the file keeps every run.
//
//	go test -run='^$' -bench=. ./ledger/ 2>&1 | go run ./scripts/benchsum -o bench/results.txt
//	benchstat old.txt bench/results.txt
package main
