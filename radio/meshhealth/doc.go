// Package meshhealth reads the health of the routing mesh a node sits in
// (feature F27, seed v0.3 "Mesh-Binding"): its direct neighbours, the
// routes in use, how many mesh interfaces are up, and a MeshOK verdict. It
// reads BATMAN-adv through batctl, Babel through babeld's local control
// socket, or a manual metrics file, and Poller tries them in that order.
//
// # batman-adv (batctl 2023.0, Debian 12's batctl 2023.0-1)
//
// Batctl.Read runs, with LC_ALL=C, a timeout and output capped at 1 MiB:
//
//	batctl meshif bat0 interface          "wlan0: active" / "eth1: inactive" lines
//	batctl meshif bat0 neighbors_json     JSON (preferred)
//	batctl meshif bat0 originators_json
//	batctl meshif bat0 neighbors -n       text (fallback: old batctl, broken JSON)
//	batctl meshif bat0 originators -n
//
// (-m bat0 still works in 2023.0 but prints a deprecation warning.) The
// JSON tables are arrays of objects named after batman-adv's netlink
// attributes; unknown fields are ignored:
//
//	[{"hard_ifindex":3,"hard_ifname":"wlan0","last_seen_msecs":380,"neigh_address":"02:ba:de:af:fe:02"}]
//	[{"hard_ifindex":3,"hard_ifname":"wlan0","orig_address":"02:ba:de:af:fe:03","best":true,
//	  "last_seen_msecs":1020,"neigh_address":"02:ba:de:af:fe:02","tq":198}]
//
// BATMAN V has "throughput" (kbit/s; reported here in Mbit/s) instead of
// "tq"; "best" is present only on the entry in use. The text tables:
//
//	[B.A.T.M.A.N. adv 2023.0, MainIF/MAC: wlan0/02:ba:de:af:fe:01 (bat0/5e:2a:9c:11:22:33 BATMAN_IV)]
//	IF             Neighbor              last-seen
//	        wlan0	  02:ba:de:af:fe:02    0.380s                       (IV)
//	02:ba:de:af:fe:02    0.120s (       54.0) [     wlan0]          (V, Mbit/s)
//
//	   Originator        last-seen (#/255) Nexthop           [outgoingIF]
//	 * 02:ba:de:af:fe:03    1.020s   (198) 02:ba:de:af:fe:02 [     wlan0]
//	   02:ba:de:af:fe:03    1.020s   ( 40) 02:ba:de:af:fe:03 [     wlan0]
//
// "*" marks the best next hop; BATMAN V prints "( throughput)" and
// "(   54.0)" instead. Only best entries become Routes. The BATMAN IV
// neighbour table has no link quality: a neighbour's Metric is the TQ of
// the originator entry whose originator and next hop are that neighbour.
//
// batctl prints its errors on stderr and exits 1. Without the batman-adv
// module (as on Debian kernels without it), batctl 2023.0 prints
// "Error - batman-adv module has not been loaded" for `interface`
// (ErrModuleNotLoaded) and "Error - interface bat0 is not present or not a
// batman-adv interface" for the tables (ErrNoMeshInterface). Read runs
// `interface` first, so a missing module is reported as such.
//
// # Babel (babeld 1.12.1)
//
// QueryBabel speaks babeld's local configuration protocol, enabled with
// `babeld -G PORT` (read-write) or `-g PORT` (read-only) on [::1]:PORT of
// babeld's network namespace, or `-G /path` on a UNIX socket. babeld greets
//
//	BABEL 1.0
//	version babeld-1.12.1
//	host vm
//	my-id c4:d2:f3:43:dd:70:d8:08
//	ok
//
// and answers "dump" with lines of VERB KIND ID and key-value pairs, ended
// by "ok" (or "no"/"bad" for a refused request):
//
//	add interface vA up true ipv6 fe80::44f6:d3ff:febf:7071 ipv4 10.213.0.1
//	add neighbour 55963c40a060 address fe80::1495:91ff:fe0e:e065 if vA reach ff80 ureach 0000 rxcost 96 txcost 96 cost 96
//	add xroute 10.213.0.1/32-0.0.0.0/0 prefix 10.213.0.1/32 from 0.0.0.0/0 metric 0
//	add route 55963c40a6d0 prefix 10.213.0.2/32 from 0.0.0.0/0 installed yes id 04:97:46:de:f4:d7:48:ca metric 96 refmetric 0 via fe80::1495:91ff:fe0e:e065 if vA
//	ok
//
// A neighbour may add "rtt 12.500 rttcost 40" before "cost"; a down
// interface is just "add interface vA up false". "change" replaces an
// object with the same KIND and ID and "flush" removes it (as in the
// "monitor" stream). Unknown kinds (xroute) and unknown keys are ignored;
// a line that is not VERB KIND ID (key value)*, a bad reach (hex), cost
// or metric (0..65535), a line over 4 KiB or more than 20000 lines is an
// error. Only installed routes become Routes. Reach is the 16-bit hello
// history in hex; a cost of 65535 is infinity (unreachable).
//
// # Manual file (seed v0.3 mesh/metrics.json)
//
//	{"proto":"none","neighbors":[],"routes":[],"health":{"interfaces_up":1,"mesh_ok":true}}
//
// with optional neighbour objects {"address","iface","metric","reach",
// "rxcost","txcost","last_seen_ms"} and routes {"destination","via",
// "iface","metric"}. ReadFile is strict: 1 MiB at most, no unknown
// fields, nothing after the object.
//
// # MeshOK
//
// batman-adv: InterfacesUp >= 1 and at least one neighbour heard within
// MaxLastSeen (10 s) whose link is usable: TQ >= MinTQ (51 of 255) with
// BATMAN IV, throughput > 0 with BATMAN V. Babel: InterfacesUp >= 1 and at
// least one neighbour with a non-zero reach and a cost below BabelInfinity
// (65535). File: the file's health.mesh_ok as written. When no source can
// be read (Proto "none"): false.
package meshhealth
