// Package broker is the job broker's logic, free of I/O: how candidates are
// scored (Score, Rank), when a job's results are accepted (Decide), when a
// host broke its service level (SLA), and the hosts' reputation (RepStore,
// signed RepRecords). node/jobs does the I/O: quotes, dispatch, polling.
//
// # Scoring
//
// One pure function, lower is better:
//
//	score = (1 + price/refPrice) × link × (1 + 0.1×path) × mesh
//	        × (1 − 0.1×min(neighbours, 8)/8) / reliability
//
// refPrice is the highest price quoted in the round; link is udp 1.0, ble
// 1.05, bt_lr 1.08, lora 1.1, file 1.2 (unknown links count as file); mesh
// is 2 for a host whose mesh_ok is false; reliability is
// (hits+1)/(hits+misses+2) with others' observations weighing 0.25 of the
// node's own. The price term stays within 1-2, so twice the reliability
// always wins over price. Score's Why lists each factor, for --explain and
// the dashboard.
//
// # Result quorum
//
// A job needing r matching results is accepted when at least r hosts gave
// one output hash and more hosts gave it than all other hashes together.
// Otherwise the broker asks enough further hosts for the best hash to reach
// r, or one tie-breaker. The minority gets a miss; hosts that failed or broke
// the SLA get a miss; the majority gets a hit.
//
// # SLA and failover
//
// A host must report a dispatched job started within Activate (t_activate,
// 30 s), and its progress (the share of the input the module has read) must
// rise by MinDelta (0.05) at least every StallAge (90 s); else the dispatch
// is late and the job moves to the next host, at most MaxRetries (3) times,
// Cooldown (60 s) apart.
//
// # Reputation records
//
// A RepRecord is one observer's hits and misses of one host, signed with the
// observer's node key over the length-prefixed version, observer and subject
// and the decimal counts, in the signature domain "offgrid-rep-v1"; its
// verify_key must be the observer's did:key. Counts only grow, so merging
// keeps the max per field per observer and host: replaying an old record
// changes nothing, and a record cannot be altered or attributed to another
// observer without its key. A node exports only its own observations (signed
// at export); records naming the node itself as observer are refused on
// merge. One bad record refuses the whole merge.
package broker
