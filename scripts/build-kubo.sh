#!/usr/bin/env bash
# build-kubo.sh: build IPFS kubo (the peer make bench-peer compares with)
# from the Go module proxy into a cache directory, once; print its path.
#
# The proxy refuses the go-libp2p fork kubo v0.43.1 requires, so a temporary
# module requires kubo and replaces go-libp2p with the upstream release
# LIBP2P_VERSION (v0.50.0 builds; see docs in README's benchmark section).
#
# Settings (environment): KUBO_VERSION=v0.43.1 LIBP2P_VERSION=v0.50.0
# KUBO_CACHE=~/.cache/offgrid/kubo GO=go. Exits non-zero, saying why, when
# the build fails.
set -euo pipefail

KUBO_VERSION=${KUBO_VERSION:-v0.43.1}
LIBP2P_VERSION=${LIBP2P_VERSION:-v0.50.0}
KUBO_CACHE=${KUBO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offgrid/kubo}
GO=${GO:-go}
BIN=$KUBO_CACHE/ipfs-$KUBO_VERSION-libp2p-$LIBP2P_VERSION

log() { printf 'build-kubo: %s\n' "$*" >&2; }

if [[ -x $BIN ]]; then
	echo "$BIN"
	exit 0
fi
mkdir -p "$KUBO_CACHE"
MOD=$(mktemp -d "${TMPDIR:-/tmp}/offgrid-kubo.XXXXXX")
trap 'rm -rf "$MOD"' EXIT
cd "$MOD"
log "building kubo $KUBO_VERSION with go-libp2p $LIBP2P_VERSION (a few minutes)"
"$GO" mod init offgrid.invalid/kubo-build >/dev/null 2>&1
"$GO" mod edit -require="github.com/ipfs/kubo@$KUBO_VERSION" \
	-replace="github.com/libp2p/go-libp2p=github.com/libp2p/go-libp2p@$LIBP2P_VERSION"
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/ipfs/kubo/cmd/ipfs"
GO
if ! "$GO" mod tidy >"$MOD/tidy.log" 2>&1; then
	cat "$MOD/tidy.log" >&2
	log "resolving kubo $KUBO_VERSION's modules failed (above)"
	exit 1
fi
if ! "$GO" build -trimpath -o "$BIN.tmp" github.com/ipfs/kubo/cmd/ipfs >"$MOD/build.log" 2>&1; then
	cat "$MOD/build.log" >&2
	log "building kubo $KUBO_VERSION failed (above)"
	rm -f "$BIN.tmp"
	exit 1
fi
mv "$BIN.tmp" "$BIN"
log "built $BIN"
echo "$BIN"
