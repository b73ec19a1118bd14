#!/usr/bin/env bash
# bench-peer.sh: offgrid side by side with IPFS kubo on this machine.
#
# Builds kubo (scripts/build-kubo.sh, cached), starts NODES offgrid node
# processes on 127.0.0.1 (each with its own data dir in a temp dir), makes a
# SIZE_MIB random file and takes the median of RUNS runs of:
#   add:  `ipfs --offline add` into a fresh repo (flatfs with "sync": true)
#         against `offgrid put` (K/N erasure coding) through node 0;
#   cold: `ipfs --offline cat` into a file, then fsync, against `offgrid get`
#         (which writes and fsyncs its output), the page cache dropped before
#         each (needs root; skipped, saying so, otherwise);
#   warm: the same with the data in the page cache.
# Each put and add gets the file with its first 8 bytes changed, so that
# neither finds the blocks or shards of the run before. Prints one table:
# figure, offgrid MB/s, kubo MB/s, ratio (offgrid / kubo).
#
# Settings (environment): SIZE_MIB=256 RUNS=3 NODES=20 K=12 N=20
# BIN=bin/offgrid NO_BUILD=1 (skip go build) GO=go, and build-kubo.sh's
# KUBO_VERSION, LIBP2P_VERSION, KUBO_CACHE. Everything listens on and talks
# to 127.0.0.1 only; kubo runs offline. All processes and temp files are
# removed on exit. Not part of make test.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
NODES=${NODES:-20}
K=${K:-12}
N=${N:-20}
GO=${GO:-go}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-bin/offgrid}

log() { printf 'bench-peer: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

if [[ -z ${NO_BUILD:-} ]]; then
	log "building $BIN"
	"$GO" build -o "$BIN" ./cmd/offgrid
fi
[[ -x $BIN ]] || die "$BIN is missing; run make build"
BIN=$(realpath "$BIN")
IPFS=$(GO=$GO ./scripts/build-kubo.sh) || die "kubo did not build (above); no comparison"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/offgrid-bench-peer.XXXXXX")
# shellcheck source=scripts/procmesh.sh
source scripts/procmesh.sh

# drop_caches: write dirty pages and empty the page cache; 1 if not allowed.
drop_caches() {
	sync
	{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null
}
COLD=1
if ! drop_caches; then
	COLD=0
	log "cannot drop the page cache (needs root and a writable /proc/sys/vm/drop_caches): the cold rows are skipped"
fi

start_mesh

SRC=$WORK/src.bin
OUT=$WORK/out.bin
log "writing $SIZE_MIB MiB of random data"
head -c "${SIZE_MIB}M" /dev/urandom >"$SRC"

# timed NAME CMD...: run CMD (stdout to $WORK/NAME.out, stderr to
# $WORK/NAME.err), fail the script if it fails, and print its wall seconds.
timed() {
	local name=$1 start rc=0
	shift
	start=$(date +%s.%N)
	"$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	if ((rc != 0)); then
		cat "$WORK/$name.err" >&2
		die "$name failed (exit $rc): $*"
	fi
	awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.3f\n", e - s}'
}

# fresh_ipfs: a new kubo repo in $IPFS_PATH with flatfs syncing every write.
export IPFS_PATH=$WORK/ipfs
fresh_ipfs() {
	rm -rf "$IPFS_PATH"
	"$IPFS" init --profile=test >"$WORK/ipfs-init.log" 2>&1 || { cat "$WORK/ipfs-init.log" >&2; die "ipfs init failed"; }
	sed -i 's/"sync": false/"sync": true/' "$IPFS_PATH/config"
	grep -q '"sync": true' "$IPFS_PATH/config" || die "no flatfs \"sync\" setting in $IPFS_PATH/config to turn on"
}

ipfs_cat_fsync() { "$IPFS" --offline cat "$1" >"$OUT" && sync "$OUT"; }
offgrid() { og "$@" --node "${URLS[0]}"; }

median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
mbps() { awk -v s="$1" -v m="$SIZE_MIB" 'BEGIN {printf "%.0f", m * 1048576 / 1e6 / s}'; }

PUT=() ADD=() CID="" ASSET=""
for ((r = 1; r <= RUNS; r++)); do
	printf '%08d' "$r" | dd of="$SRC" bs=8 count=1 conv=notrunc status=none
	fresh_ipfs
	ADD+=("$(timed add "$IPFS" --offline add -Q "$SRC")")
	CID=$(tr -d '[:space:]' <"$WORK/add.out")
	PUT+=("$(timed put offgrid put "$SRC" --k "$K" --n "$N" --no-progress --timeout 30m)")
	ASSET=$(tr -d '[:space:]' <"$WORK/put.out")
	log "run $r: ipfs add ${ADD[-1]} s, put ${PUT[-1]} s"
done
[[ -n $CID && -n $ASSET ]] || die "add or put printed no identifier"

# read_runs MODE: RUNS timed cats and gets of the last file; cold drops the
# page cache before each, warm reads once untimed first.
CAT=() GET=()
read_runs() {
	local mode=$1
	CAT=() GET=()
	if [[ $mode == warm ]]; then
		timed warmup-cat ipfs_cat_fsync "$CID" >/dev/null
		rm -f "$OUT"
		timed warmup-get offgrid get "$ASSET" -o "$OUT" --no-progress --timeout 30m >/dev/null
	fi
	for ((r = 1; r <= RUNS; r++)); do
		rm -f "$OUT"
		[[ $mode == cold ]] && drop_caches
		CAT+=("$(timed cat ipfs_cat_fsync "$CID")")
		cmp -s "$SRC" "$OUT" || die "ipfs cat gave back other bytes"
		rm -f "$OUT"
		[[ $mode == cold ]] && drop_caches
		GET+=("$(timed get offgrid get "$ASSET" -o "$OUT" --no-progress --timeout 30m)")
		cmp -s "$SRC" "$OUT" || die "offgrid get gave back other bytes"
		log "$mode run $r: ipfs cat ${CAT[-1]} s, get ${GET[-1]} s"
	done
}

ROWS=()
row() { # row FIGURE OFFGRID_SECS KUBO_SECS
	local o k
	o=$(mbps "$2") k=$(mbps "$3")
	ROWS+=("$(printf '| %s | %s | %s | %s |' "$1" "$o" "$k" "$(awk -v o="$o" -v k="$k" 'BEGIN {printf "%.2f", o / k}')")")
}
row "put vs \`ipfs --offline add\` (flatfs sync)" "$(printf '%s\n' "${PUT[@]}" | median)" "$(printf '%s\n' "${ADD[@]}" | median)"
if ((COLD)); then
	read_runs cold
	row "get vs \`ipfs cat\` to a file + fsync, cold page cache" "$(printf '%s\n' "${GET[@]}" | median)" "$(printf '%s\n' "${CAT[@]}" | median)"
fi
read_runs warm
row "get vs \`ipfs cat\` to a file + fsync, warm" "$(printf '%s\n' "${GET[@]}" | median)" "$(printf '%s\n' "${CAT[@]}" | median)"

echo
echo "offgrid vs kubo $("$IPFS" version --number 2>/dev/null || echo '?'): $SIZE_MIB MiB random file, medians of $RUNS;"
echo "offgrid: $NODES \`offgrid node\` processes on 127.0.0.1, $K/$N, the CLI's wall time; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| figure | offgrid MB/s | kubo MB/s | ratio |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
((COLD)) || echo "(cold rows skipped: the page cache cannot be dropped here)"
