// Package quorum is the generic store of weighted acks (F48): a quorum is
// a subject of one kind (upload, job or token) that needs acks from nodes
// whose weight adds up to a required amount, a float (3.5 is fine).
//
// # Weights
//
// An ack counts for its node's weight: the weight the operator set for
// that node in the policy, else the weight the node's own view feeds
// ([Feed]: the transport the node is heard on, [TransportWeight], times
// its reputation in [0, 1]), else the policy's default weight (1). A node
// acks a quorum once; acking again refreshes the ack's time. Weights are
// read when the status is computed, so a policy change applies to acks
// already given.
//
// # Decay
//
// Each kind has its own age rule ([Decay]): an ack's weight halves every
// HalfLife and is worth nothing once older than MaxAge (0: never). Upload
// quorums do not decay by default (a stored shard stays stored); job and
// token quorums halve every hour and lapse after six, as the seed's
// defaults did. Ages come from the injected clock; an ack dated in the
// future (a drifting clock) counts as new, never as more.
//
// # What quorums are not for
//
// Transaction finality does not use this store. A certificate is final
// when witnesses holding more than 2/3 of the epoch's fixed witness weight
// have signed it (package economy); a quorum whose weights decay, drift
// with transports and reputations, and can be changed by one operator's
// policy would let two conflicting transactions both look final at
// different times, which breaks safety. Quorums here only answer "have
// enough nodes confirmed this upload, job or token lately?".
//
// # Bounds
//
// At most [MaxQuorums] quorums (a full store refuses new ones with
// [ErrFull]), [MaxAcks] acks per quorum, [MaxWeights] per-node weights;
// IDs and node names at most [MaxIDLen] bytes of a restricted alphabet.
// Tables: quorum_quorums, quorum_acks, quorum_policy (migration component
// "quorum").
package quorum
