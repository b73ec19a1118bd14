package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	out := flag.String("o", "bench/results.txt", "file for the results, in benchstat's format")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, os.Stderr, *out); err != nil {
		fmt.Fprintf(os.Stderr, "benchsum: %v\n", err)
		os.Exit(1)
	}
}

// run reads go test output from in, echoing it to echo, writes the results
// file and prints the table on w. It returns an error when the run failed,
// after writing what it has.
func run(in io.Reader, w, echo io.Writer, out string) error {
	res, err := parse(io.TeeReader(in, echo))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("results file: %w", err)
	}
	if err := os.WriteFile(out, []byte(strings.Join(res.lines, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("results file: %w", err)
	}
	fmt.Fprintln(w)
	printTable(w, summarize(res.results))
	fmt.Fprintf(w, "\nresults for benchstat: %s\n", out)
	switch {
	case len(res.failures) > 0:
		return fmt.Errorf("the run failed:\n  %s", strings.Join(res.failures, "\n  "))
	case len(res.results) == 0:
		return errors.New("no benchmark result in the input")
	}
	return nil
}

// result is one benchmark line: a run of one benchmark.
type result struct {
	pkg     string
	name    string // without the -GOMAXPROCS suffix
	metrics []metric
}

type metric struct {
	value float64
	unit  string
}

type parsed struct {
	lines    []string // what benchstat reads: configuration and result lines
	results  []result
	failures []string
}

var (
	// resultLine is a benchmark's result: name, iterations, value-unit pairs.
	resultLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+(.*)$`)
	// startLine is a benchmark that has started (printed alone when its
	// result is not on the same line, e.g. it logged or failed).
	startLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s*$`)
	// configLine is a key: value line benchstat keeps (goos, pkg, cpu...).
	configLine = regexp.MustCompile(`^[a-z][a-zA-Z0-9_-]*: `)
	procs      = regexp.MustCompile(`-\d+$`)
)

func parse(in io.Reader) (parsed, error) {
	var p parsed
	pkg := ""
	started := map[string]bool{} // benchmarks started without a result yet
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	// A failed benchmark's messages are indented lines around its
	// "--- FAIL" line: those just before it (logged while it ran) and
	// those after; the summary carries up to maxWhy of them, so it says
	// why without the whole log.
	const maxWhy = 10
	var logged []string
	failing := 0 // messages still quoted after a FAIL line
	for sc.Scan() {
		line := sc.Text()
		if indented := strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t"); indented && !strings.Contains(line, "panic: ") {
			if failing > 0 {
				p.failures = append(p.failures, "  "+strings.TrimSpace(line))
				failing--
			} else if len(logged) < maxWhy {
				logged = append(logged, "  "+strings.TrimSpace(line))
			}
			continue
		}
		failing = 0
		why := logged
		logged = nil
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			p.lines = append(p.lines, line)
		case configLine.MatchString(line) && !strings.Contains(line, "panic: "):
			p.lines = append(p.lines, line)
		case resultLine.MatchString(line):
			m := resultLine.FindStringSubmatch(line)
			r, ok := parseResult(pkg, m[1], m[3])
			if !ok {
				continue // a log line that happens to start like a result
			}
			p.results = append(p.results, r)
			p.lines = append(p.lines, line)
			delete(started, pkg+"."+r.name)
		case startLine.MatchString(line):
			started[pkg+"."+procs.ReplaceAllString(startLine.FindStringSubmatch(line)[1], "")] = true
		case strings.Contains(line, "panic: "):
			// A panic or go test's timeout, often on the line of the
			// benchmark it stopped.
			i := strings.Index(line, "panic: ")
			if m := startLine.FindStringSubmatch(line[:i]); m != nil {
				started[pkg+"."+procs.ReplaceAllString(m[1], "")] = true
			}
			p.failures = append(p.failures, line[i:])
		case strings.HasPrefix(line, "--- FAIL: "):
			p.failures = append(append(p.failures, line), why...)
			failing = maxWhy
		case strings.HasPrefix(line, "FAIL"):
			p.failures = append(p.failures, line)
		}
	}
	if err := sc.Err(); err != nil {
		return p, fmt.Errorf("read go test output: %w", err)
	}
	var missing []string
	for name := range started {
		if !isParent(name, p.results) {
			missing = append(missing, name+": started, no result")
		}
	}
	slices.Sort(missing)
	p.failures = append(p.failures, missing...)
	return p, nil
}

// isParent: a benchmark with sub-benchmarks prints its name alone and has
// no result line of its own.
func isParent(name string, results []result) bool {
	for _, r := range results {
		if strings.HasPrefix(r.pkg+"."+r.name, name+"/") {
			return true
		}
	}
	return false
}

func parseResult(pkg, name, rest string) (result, bool) {
	f := strings.Fields(rest)
	if len(f) < 2 || len(f)%2 != 0 {
		return result{}, false
	}
	r := result{pkg: pkg, name: procs.ReplaceAllString(name, "")}
	for i := 0; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return result{}, false
		}
		r.metrics = append(r.metrics, metric{v, f[i+1]})
	}
	return r, true
}

// row is one line of the summary table.
type row struct {
	figure   string
	unit     string
	value    float64
	baseline string // name of the baseline, "" when none
	base     float64
	ratio    float64
}

// splitLast splits a benchmark name at its last "/": its parent and its
// own last part ("" and the name when it has no parent).
func splitLast(name string) (parent, last string) {
	i := strings.LastIndex(name, "/")
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// summarize pairs every benchmark with its baseline (see the package doc)
// and takes medians over repeated runs.
func summarize(results []result) []row {
	type key struct{ pkg, name string }
	var order []key
	runs := map[key][]result{}
	for _, r := range results {
		k := key{r.pkg, r.name}
		if _, ok := runs[k]; !ok {
			order = append(order, k)
		}
		runs[k] = append(runs[k], r)
	}
	// The baseline of each group: pkg and the parent of the base= name.
	bases := map[key]key{}
	for _, k := range order {
		parent, last := splitLast(k.name)
		if strings.HasPrefix(last, "base=") {
			g := key{k.pkg, parent}
			if _, dup := bases[g]; !dup {
				bases[g] = k
			}
		}
	}
	var rows []row
	for _, k := range order {
		parent, _ := splitLast(k.name)
		b, hasBase := bases[key{k.pkg, parent}]
		if hasBase && b == k {
			continue // shown beside its figures
		}
		fig := runs[k]
		r := row{figure: short(k.pkg) + " " + strings.TrimPrefix(k.name, "Benchmark")}
		if !hasBase {
			r.unit = primary(fig[0].metrics, nil)
			r.value = median(fig, r.unit)
			rows = append(rows, r)
			continue
		}
		base := runs[b]
		r.unit = primary(fig[0].metrics, base[0].metrics)
		r.value = median(fig, r.unit)
		_, r.baseline = splitLast(b.name)
		r.base = median(base, r.unit)
		if r.unit != "" && r.base != 0 && r.value != 0 {
			if strings.Contains(r.unit, "/s") {
				r.ratio = r.value / r.base
			} else {
				r.ratio = r.base / r.value
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// primary is the unit a figure is compared on: the first custom unit both
// report, else MB/s, else ns/op. With no baseline, the figure's own.
func primary(fig, base []metric) string {
	standard := []string{"ns/op", "MB/s", "B/op", "allocs/op"}
	has := func(ms []metric, unit string) bool {
		return slices.ContainsFunc(ms, func(m metric) bool { return m.unit == unit })
	}
	both := func(unit string) bool { return has(fig, unit) && (base == nil || has(base, unit)) }
	for _, m := range fig {
		if !slices.Contains(standard, m.unit) && both(m.unit) {
			return m.unit
		}
	}
	for _, unit := range []string{"MB/s", "ns/op"} {
		if both(unit) {
			return unit
		}
	}
	return ""
}

func median(runs []result, unit string) float64 {
	var vs []float64
	for _, r := range runs {
		for _, m := range r.metrics {
			if m.unit == unit {
				vs = append(vs, m.value)
			}
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

// short is a package path without the module (the last two elements).
func short(pkg string) string {
	parts := strings.Split(pkg, "/")
	if len(parts) > 3 {
		parts = parts[3:]
	}
	return strings.Join(parts, "/")
}

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\tbaseline (same run)\tvalue\tratio\t")
	for _, r := range rows {
		base, bv, ratio := "-", "-", "-"
		if r.baseline != "" {
			base, bv = r.baseline, num(r.base)
			if r.ratio != 0 {
				ratio = strconv.FormatFloat(r.ratio, 'f', 2, 64)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.figure, num(r.value), r.unit, base, bv, ratio)
	}
	tw.Flush()
}

// num prints a figure with three significant digits at least.
func num(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
