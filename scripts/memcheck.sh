#!/usr/bin/env bash
# memcheck.sh: peak memory of a large put and get on a mesh of node processes.
#
# Builds bin/offgrid, starts NODES node processes on 127.0.0.1 (each with its
# own data dir in a temp dir), waits until node 0 sees the others up, stores a
# SIZE_MIB random file through node 0 with K/N erasure coding, fetches it back,
# compares the two, and prints the peak RSS of the put client, the get client
# and the node processes (VmHWM, reset between put and get). Exits 1 if any
# peak exceeds LIMIT_MIB, naming which.
#
# Settings (environment): NODES=20 K=12 N=20 SIZE_MIB=1024 LIMIT_MIB=150
# BASE_PORT=(random free range) BIN=bin/offgrid NO_BUILD=1 (skip go build)
# GO=go. Run from anywhere; it works in the repository root.
#
# Everything listens on and talks to 127.0.0.1 only. All processes and temp
# files are removed on exit.
set -euo pipefail

NODES=${NODES:-20}
K=${K:-12}
N=${N:-20}
SIZE_MIB=${SIZE_MIB:-1024}
LIMIT_MIB=${LIMIT_MIB:-150}
GO=${GO:-go}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-bin/offgrid}

log() { printf 'memcheck: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

if [[ -z ${NO_BUILD:-} ]]; then
	log "building $BIN"
	"$GO" build -o "$BIN" ./cmd/offgrid
fi
[[ -x $BIN ]] || die "$BIN is missing; run make build"
BIN=$(realpath "$BIN")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/offgrid-memcheck.XXXXXX")
# shellcheck source=scripts/procmesh.sh
source scripts/procmesh.sh

# Peak-RSS measurement of the client: GNU time if we have it (install it when
# we are root on Debian), else poll /proc/PID/status while it runs.
TIME_BIN=/usr/bin/time
if [[ ! -x $TIME_BIN ]] && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
	log "installing GNU time"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1; } || true
fi
if [[ ! -x $TIME_BIN ]] || ! "$TIME_BIN" -v true >/dev/null 2>&1; then
	TIME_BIN=
	log "GNU time unavailable: sampling the client's VmHWM every 20 ms instead (may miss a short final peak)"
fi

start_mesh

SRC=$WORK/src.bin
OUT=$WORK/out.bin
log "writing $SIZE_MIB MiB of random data"
head -c "${SIZE_MIB}M" /dev/urandom >"$SRC"

# reset_node_peaks: start every node's VmHWM again from its current RSS
# (Linux clear_refs 5). Returns 1 if the kernel refuses.
reset_node_peaks() {
	local pid ok=0
	for pid in "${PIDS[@]}"; do
		echo 5 2>/dev/null >"/proc/$pid/clear_refs" || ok=1
	done
	return "$ok"
}

# node_peaks FILE: write "index kib" of each node's VmHWM to FILE.
node_peaks() {
	local i kib
	: >"$1"
	for ((i = 0; i < NODES; i++)); do
		kib=$(awk '/^VmHWM:/ {print $2}' "/proc/${PIDS[i]}/status" 2>/dev/null || true)
		[[ -n $kib ]] || die "node $i (pid ${PIDS[i]}) is gone: $(tail -n 5 "$WORK/node$i.log")"
		echo "$i $kib" >>"$1"
	done
}

# client NAME CMD...: run a client command, its stdout to $WORK/NAME.out and
# stderr to $WORK/NAME.err; sets CLIENT_KIB (peak RSS) and CLIENT_SECS.
client() {
	local name=$1 start rc=0 pid kib
	shift
	start=$(date +%s.%N)
	if [[ -n $TIME_BIN ]]; then
		"$TIME_BIN" -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
		CLIENT_KIB=$(awk -F': *' '/Maximum resident set size/ {print $2}' "$WORK/$name.time")
	else
		"$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
		pid=$!
		CLIENT_KIB=0
		while kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [[ -n $kib ]]; do
			((kib > CLIENT_KIB)) && CLIENT_KIB=$kib
			sleep 0.02
		done
		wait "$pid" || rc=$?
	fi
	CLIENT_SECS=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
	if ((rc != 0)); then
		cat "$WORK/$name.err" >&2
		die "$name failed (exit $rc)"
	fi
}

can_reset=1
reset_node_peaks || { can_reset=0; log "cannot reset VmHWM: node peaks include start-up and the put"; }

log "put: $SIZE_MIB MiB, $K/$N"
client put "$BIN" put "$SRC" --k "$K" --n "$N" --no-progress --node "${URLS[0]}" --token "$TOKEN" --timeout 30m
PUT_KIB=$CLIENT_KIB PUT_SECS=$CLIENT_SECS
ASSET=$(tr -d '[:space:]' <"$WORK/put.out")
[[ -n $ASSET ]] || die "put printed no asset ID"
log "$(cat "$WORK/put.err")"
node_peaks "$WORK/nodes-put"

((can_reset)) && reset_node_peaks
log "get $ASSET"
client get "$BIN" get "$ASSET" -o "$OUT" --no-progress --node "${URLS[0]}" --token "$TOKEN" --timeout 30m
GET_KIB=$CLIENT_KIB GET_SECS=$CLIENT_SECS
node_peaks "$WORK/nodes-get"

cmp "$SRC" "$OUT" || die "the file read back differs from the one stored"
log "the file read back is identical"

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# owner FILE: node 0's KiB. hosts FILE: "max median" KiB of nodes 1..NODES-1,
# and the index of the max.
owner() { awk '$1 == 0 {print $2}' "$1"; }
hosts_max() { awk '$1 != 0 {print $2, $1}' "$1" | sort -n | tail -n 1; }
hosts_median() {
	awk '$1 != 0 {print $2}' "$1" | sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}

LIMIT_KIB=$((LIMIT_MIB * 1024))
FAILS=()
row() { # row LABEL KIB [CHECK]
	local flag=ok
	if (($2 > LIMIT_KIB)); then
		flag="OVER by $(mib $(($2 - LIMIT_KIB))) MiB"
		FAILS+=("$1: $(mib "$2") MiB")
	fi
	printf '%-38s %10s  %s\n' "$1" "$(mib "$2")" "$flag"
}

mbps() { awk -v s="$1" -v m="$SIZE_MIB" 'BEGIN {printf "%.1f", m * 1048576 / 1e6 / s}'; }
read -r put_hmax put_hmaxi <<<"$(hosts_max "$WORK/nodes-put")"
read -r get_hmax get_hmaxi <<<"$(hosts_max "$WORK/nodes-get")"
put_phase="put"
((can_reset)) || put_phase="start+put"
get_phase="get"
((can_reset)) || get_phase="start+put+get"

echo
echo "offgrid memcheck: $SIZE_MIB MiB file, $K/$N, $NODES node processes, limit $LIMIT_MIB MiB peak RSS"
echo "put ${PUT_SECS}s ($(mbps "$PUT_SECS") MB/s), get ${GET_SECS}s ($(mbps "$GET_SECS") MB/s)"
echo
printf '%-38s %10s  %s\n' "process" "peak MiB" "vs limit"
row "client put" "$PUT_KIB"
row "client get" "$GET_KIB"
row "owner node 0 ($put_phase)" "$(owner "$WORK/nodes-put")"
row "owner node 0 ($get_phase)" "$(owner "$WORK/nodes-get")"
row "host nodes max ($put_phase, node $put_hmaxi)" "$put_hmax"
row "host nodes median ($put_phase)" "$(hosts_median "$WORK/nodes-put")"
row "host nodes max ($get_phase, node $get_hmaxi)" "$get_hmax"
row "host nodes median ($get_phase)" "$(hosts_median "$WORK/nodes-get")"
echo
echo "per node VmHWM MiB ($put_phase | $get_phase):"
paste -d ' ' "$WORK/nodes-put" "$WORK/nodes-get" |
	awk '{printf "  node %-2d %7.1f | %7.1f\n", $1, $2 / 1024, $4 / 1024}'

if ((${#FAILS[@]})); then
	echo
	echo "FAIL: over $LIMIT_MIB MiB:"
	printf '  %s\n' "${FAILS[@]}"
	exit 1
fi
echo
echo "PASS: every process stayed under $LIMIT_MIB MiB"
