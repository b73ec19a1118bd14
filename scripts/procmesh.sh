# procmesh.sh: a mesh of `offgrid node` processes on 127.0.0.1, as an operator
# makes one, for the scripts that measure the real binary (memcheck.sh,
# bench-peer.sh). Source it after setting NODES, BIN (an absolute path), WORK
# (a temp dir), and defining log and die; BASE_PORT picks the first port,
# NODE_ARGS adds flags to every node (e.g. --pprof).
#
# The nodes find each other through --peers only (--radio none: the default
# UDP beacons would go to a multicast group, and these scripts send traffic
# to 127.0.0.1 alone), otherwise with the defaults an operator gets (peers
# polled every 5 s):
# polling at 500 ms, as this script once did, put ten times the background
# load of a real mesh on the machine and cost puts and gets a third of
# their speed.
#
# start_mesh starts the nodes, makes node 0 create a cluster and admit every
# other node (only members enter the peer table and take shards), and waits
# until node 0 sees all of them up. It sets PIDS, URLS, TOKEN and BASE; stop_mesh
# (installed as the EXIT trap, with removal of WORK) ends them.

PIDS=()
URLS=()

stop_mesh() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap stop_mesh EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
	if command -v ss >/dev/null; then
		[[ -z $(ss -Htln "sport = :$1") ]]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# pick_ports: NODES consecutive free ports below the kernel's ephemeral range,
# so the nodes' own outgoing connections cannot take a port before its node
# binds it.
pick_ports() {
	local base p ok low=32768 slots
	[[ -r /proc/sys/net/ipv4/ip_local_port_range ]] && read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	slots=$(((low - 10000) / NODES))
	((slots > 0)) || return 1
	for _ in $(seq 1 50); do
		base=${BASE_PORT:-$((10000 + (RANDOM % slots) * NODES))}
		ok=1
		for ((p = base; p < base + NODES; p++)); do
			if ! port_free "$p"; then ok=0; break; fi
		done
		if ((ok)); then echo "$base"; return 0; fi
		[[ -n ${BASE_PORT:-} ]] && break
	done
	return 1
}

# og ARGS...: the CLI with the mesh's admin token.
og() { "$BIN" "$@" --token "$TOKEN"; }

# node_id URL: the node ID a node announces (empty until it answers).
node_id() {
	curl -sf --max-time 2 "$1/announce" | grep -o '"node_id": *"[^"]*"' | cut -d'"' -f4
}

# peers_up: how many peers node 0 lists as up.
peers_up() {
	local body
	body=$(curl -sf --max-time 2 "${URLS[0]}/peers") || { echo -1; return; }
	if command -v jq >/dev/null; then
		jq '[.peers[] | select(.state == "up")] | length' <<<"$body" 2>/dev/null || echo -1
	else
		grep -o '"state": *"up"' <<<"$body" | wc -l || true
	fi
}

start_mesh() {
	local i j peers peerlist id up deadline
	BASE=$(pick_ports) || die "no $NODES free consecutive ports found"
	TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	for ((i = 0; i < NODES; i++)); do
		URLS+=("http://127.0.0.1:$((BASE + i))")
	done
	log "starting $NODES nodes on 127.0.0.1:$BASE-$((BASE + NODES - 1)) in $WORK"
	for ((i = 0; i < NODES; i++)); do
		peers=()
		for ((j = 0; j < NODES; j++)); do
			((j != i)) && peers+=("${URLS[j]}")
		done
		peerlist=$(IFS=,; echo "${peers[*]}")
		"$BIN" node --data "$WORK/node$i" --listen "127.0.0.1:$((BASE + i))" --name "node-$i" \
			--peers "$peerlist" --admin-token "$TOKEN" --log-level warn --radio none ${NODE_ARGS:-} \
			>"$WORK/node$i.log" 2>&1 &
		PIDS+=("$!")
	done

	deadline=$((SECONDS + 60))
	until curl -sf --max-time 2 "${URLS[0]}/announce" >/dev/null; do
		((SECONDS < deadline)) || die "node 0 does not answer after 60 s: $(tail -n 5 "$WORK/node0.log")"
		sleep 0.2
	done
	og cluster init --node "${URLS[0]}" >&2 || die "cluster init failed"
	for ((i = 1; i < NODES; i++)); do
		until id=$(node_id "${URLS[i]}") && [[ -n $id ]]; do
			((SECONDS < deadline + 60)) || die "node $i does not answer: $(tail -n 5 "$WORK/node$i.log")"
			sleep 0.2
		done
		og cluster admit "$id" --node "${URLS[0]}" >/dev/null || die "admitting node $i failed"
		og cluster join --from "${URLS[0]}" --node "${URLS[i]}" >/dev/null || die "node $i did not join"
	done
	log "node 0 admitted $((NODES - 1)) nodes to its cluster"

	deadline=$((SECONDS + 60))
	while :; do
		up=$(peers_up)
		((up == NODES - 1)) && break
		for ((i = 0; i < NODES; i++)); do
			kill -0 "${PIDS[i]}" 2>/dev/null || { cat "$WORK/node$i.log" >&2; die "node $i exited"; }
		done
		((SECONDS < deadline)) || die "node 0 sees $up peers up after 60 s, want $((NODES - 1))"
		sleep 0.2
	done
	log "node 0 sees $up peers up"
}
