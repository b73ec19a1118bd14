#!/usr/bin/env bash
# bench.sh: run the benchmarks of make bench, one package at a time, each
# with a deadline, and print go test's output for scripts/benchsum.
#
# go test's -timeout does not bound benchmarks (package testing stops its
# alarm before it runs them), so each package's test binary runs under
# timeout(1): past its deadline it gets SIGQUIT, prints every goroutine's
# stack and a FAIL line names the package and the deadline.
#
# Settings (environment): GO=go BENCHTIME=2s BENCH=. (the -bench pattern)
# and the packages with their deadlines in PACKAGES (dir:deadline or
# dir:deadline:benchtime for benchmarks whose one iteration is a whole run).
set -uo pipefail

GO=${GO:-go}
BENCHTIME=${BENCHTIME:-2s}
BENCH=${BENCH:-.}
PACKAGES=${PACKAGES:-"internal/sqlitedb:1m ledger:2m server:2m radio:2m economy:3m node/ledgersync:3m:1x cmd/offgrid:6m"}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BINS=$(mktemp -d "${TMPDIR:-/tmp}/offgrid-bench.XXXXXX")
trap 'rm -rf "$BINS"' EXIT

for entry in $PACKAGES; do
	IFS=: read -r dir deadline benchtime <<<"$entry"
	benchtime=${benchtime:-$BENCHTIME}
	bin=$BINS/$(echo "$dir" | tr / _).test
	if ! "$GO" test -c -o "$bin" "./$dir/" 2>&1; then
		echo "FAIL ./$dir: does not build"
		continue
	fi
	# A test binary runs in its package's directory (testdata, relative paths).
	(cd "$dir" && timeout --signal=QUIT --kill-after=30s "$deadline" "$bin" \
		-test.run='^$' -test.bench="$BENCH" -test.benchmem -test.benchtime="$benchtime" 2>&1)
	rc=$?
	case $rc in
	0) ;;
	124 | 137) echo "FAIL ./$dir: over its deadline of $deadline (stopped with SIGQUIT; the goroutines are above)" ;;
	*) echo "FAIL ./$dir: exit status $rc" ;;
	esac
done
