// Package economy is the money of a cluster: transactions signed by their
// source, witness votes, certificates that make a transaction final, the
// witness's locks and the ledger of applied certificates, both in SQLite
// (migration component "economy"), and the recovery of a slot whose
// source equivocated. It is plain logic and storage, with no goroutines
// and no network: node/economy carries requests, votes and certificates
// between nodes.
//
// # Money and accounts
//
// Amounts are int64 micro-credits (JSON carries decimal strings, see
// internal/fixed). An account is a node ID or [System]. Balances come only
// from final certificates, starting from the genesis allocations of the
// cluster document. A transfer moves Amount from Src to Dst and Fee from
// Src to System; the fee a wallet pays is [Committee.Fee], the midpoint of
// the epoch's tx_fee_min and tx_fee_max, and a witness refuses a fee
// outside them. New money enters only through the genesis and through an
// issuance: a transaction of kind [KindIssuance] from System, unsigned and
// without a fee, which a witness votes for only when its [Validator] (the
// operator's policy) approves, so it needs witnesses holding more than 2/3
// of the weight to agree. System receives fees and host reserves but is
// the source of nothing else: nobody holds its key. So the total of all
// balances is always genesis + issued ([Ledger.Supply]).
//
// Kinds: transfer (no validator needed), settle and job (a Validator
// judges their Meta: settlement checks there that each receipt is paid at
// most once), issuance.
//
// # Formats
//
// All integers are big-endian; an account is 0x00 (System) or 0x01 and
// the 32 bytes of an Ed25519 key; a key is 32 raw bytes. Each format
// starts with a magic and the version byte 0x01, and every decoder refuses
// anything that does not encode back to the same bytes (trailing bytes,
// unknown kinds or tags, overlong fields), and checks every signature.
//
//	transaction "OGTX" 01 | cluster 16 | epoch 8 | src acct | dst acct |
//	            amount 8 | fee 8 | nonce 8 | kind 1 (1 transfer, 2 settle,
//	            3 job, 4 issuance) | meta length 2 (<= 4096) | meta |
//	            sig length 1 (0 or 64) | sig
//	vote        "OGVT" 01 | tx hash 32 | witness key 32 | epoch 8 |
//	            round 4 | sig 64
//	certificate "OGCT" 01 | tx length 4 | transaction | round 4 |
//	            vote count 2 (<= 64) | (witness key 32 | sig 64) strictly
//	            ascending by key
//	report      "OGRP" 01 | src acct | nonce 8 | epoch 8 | round 4 |
//	            locked tx hash 32 (zeros: none) | witness key 32 | sig 64
//
// The body of a transaction is its encoding up to and without the
// signature length; its hash (its identity) is SHA-256 of the body; the
// source signs the body under the domain "offgrid/tx/v1". A witness signs
// hash | epoch | round under "offgrid/tx-vote/v1", a report's fields
// under "offgrid/tx-lock/v1" (see package identity for domains), so no
// signature made for one purpose counts for another.
//
// # The witness rule
//
// The witnesses of an epoch and their integer weights come from the
// cluster document ([CommitteeOf]). A [Witness] votes for a transaction t
// ([Witness.Sign]) only if
//
//  1. t is valid (signed by Src, or an issuance), of its cluster and epoch,
//     with the fee in bounds, and a Validator accepts kinds other than
//     transfer;
//  2. it has voted for no other transaction of (t.Src, t.Nonce) in the
//     current round of that slot, and has not closed the round by a
//     report; the lock is written to SQLite in the same transaction that
//     decides, before the vote leaves, so a restart keeps every promise;
//  3. t.Src's previous nonce is final in its own ledger (nonces start at
//     1 and have no gaps);
//  4. t.Src can pay amount + fee from the final certificates its ledger has
//     applied (the sender attaches the certificates that credit it, and
//     they are verified and applied first).
//
// A [Certificate] is t with votes of one round from distinct witnesses
// holding more than 2/3 of the epoch's total weight. It is final: any node
// verifies it alone and applies it, and it needs no further vote. Each
// ledger remembers the signatures it verified or made (its witness's own
// votes, the transactions it voted for), bounded, and does not verify
// those twice: a memo entry exists only for a tuple of key, domain,
// message and signature that verified here, so it decides nothing a
// verification would not (see sigMemo).
//
// # Applying: exactly once, never negative
//
// [Ledger.Apply] verifies a certificate and, in one SQLite transaction,
// applies it if its source's previous nonce is applied and the source can
// pay; otherwise it keeps it waiting (bounded by MaxWaiting) and applies
// it when a later certificate unblocks it. A certificate is stored under
// its unique hash and at most one is applied per (src, nonce) (a unique
// index), so applying the same certificate again, from any peer, after any
// crash, changes nothing: SQLite commits the certificate's row and its
// balance changes together or not at all. A balance never goes negative:
// the ledger applies a debit only when the balance covers it, and a CHECK
// constraint refuses anything else. The balances are a sum of per
// certificate changes, so they do not depend on the order in which
// certificates arrived: two nodes that have the same certificates have the
// same balances, and [Ledger.Recompute] rebuilds them from the
// certificates alone. Reconciling two nodes is therefore the union of
// their certificates, never a merge of numbers.
//
// # Why there is no double spend
//
// Assume the Byzantine witnesses hold weight f < W/3 (W the epoch's
// total). Two certificates of one round for different transactions of the
// same (src, nonce) would each carry more than 2W/3, so their voters would
// share more than W/3 of weight, more than f: some honest witness would
// have voted for both in that round, which rule 2 forbids (its lock is
// durable, so not even a crash in between lets it). Rounds other than 0
// exist only through recovery, which never releases a round in which a
// transaction may be final (below). Hence at most one transaction per
// (src, nonce) is ever final, and since nonces are consecutive, the
// source's final transactions form one chain. Each final transaction has
// an honest voter (more than 2W/3 > f), who checked by rule 4 that the
// source could pay it from final certificates after all its earlier
// nonces; those certificates exist and every node that has them applies
// the transaction without going negative. A Byzantine witness that votes
// for unfunded or conflicting transactions, or lies about balances,
// contributes at most f, which never completes a certificate alone.
//
// # Recovery of an equivocated slot (B8)
//
// A wallet that signs two transactions for one nonce can split the
// witnesses so that neither reaches 2/3: in FastPay the account is then
// locked until the epoch ends. Here the slot has rounds. Given two valid
// different transactions of one (src, nonce) (the proof of equivocation;
// without it nobody can stall an honest wallet), a witness signs a
// [Report] of its current round: the transaction it locked in it (or
// none), and it votes in that round no more ([Witness.Report]). Reports of
// one round from distinct witnesses with weight R release the round
// ([CheckRelease]) when, for every transaction T,
//
//	reported(T) + (W - R) + F <= 2W/3
//
// where F = [Committee.RecoveryFault] = the largest weight with 5F < W. A
// witness given a release moves the slot to the next round with no lock
// ([Witness.Advance]); in it the wallet may get either transaction (or a
// new one) certified. Votes of different rounds never combine.
//
// Safety, with Byzantine weight at most F (so f < W/5, stronger than the
// W/3 of the normal path): suppose T was certified in round r, by voters
// of weight more than 2W/3. Every honest voter of T either reported round
// r, and reported T (it votes once per round and does not vote after
// reporting), or did not report (weight counted in W - R); Byzantine
// voters weigh at most F. So weight(T's voters) <= reported(T) + (W - R) +
// F <= 2W/3, a contradiction: a released round has no certificate, and
// none can form in it later (honest reporters stopped voting in it, and
// the unreported and the Byzantine were already counted). A round r > 0
// is reachable only through a release of r - 1, so by induction at most
// one round, the last one, can hold a certificate, and within a round the
// quorum argument above applies. A Byzantine witness's report may lie;
// that is why F is added, and why the bound is W/5 rather than W/3.
//
// Liveness: a release needs reports from enough weight and no transaction
// locked by much of it. With every witness reporting (R = W) a two-way
// split is released whenever neither side holds more than 2W/3 - F, e.g.
// four equal witnesses split two and two (F = 0), or seven split three,
// three and one (F = 1). When witnesses withhold reports the slot waits,
// as it would in FastPay, until they answer or the epoch changes.
//
// # Why finality does not decay
//
// The quorum store (package quorum) decays weights with age for uploads
// and jobs. Finality must not: the argument above intersects two
// certificates under the same weights. If weights could shrink over time
// a later certificate could reach "2/3" of a smaller total with voters
// that do not intersect the first one's, and a double spend would be
// final. A certificate is verified against the fixed weights of its
// epoch, forever.
//
// # Epochs
//
// A witness votes only for transactions of its own epoch, and a ledger
// verifies a certificate with the committee of the certificate's epoch
// ([Ledger.AddCommittee]). The cluster document makes a new epoch valid
// only when witnesses with more than 2/3 of the previous epoch's weight
// sign it (package cluster). Locks are not carried from one epoch to the
// next: an epoch change is safe for slots that are not pending across it,
// so operators change epochs when no transfer is in flight (a handoff of
// the old witnesses' reports, as in recovery, is the next step).
//
// # Settlement (settle.go)
//
// Hosts are paid for accepted receipts (package ledger, version 2): the
// consumer named in a receipt, who counter-signed it, pays reward = units x
// unit price (rounded down), of which HostReserveBP goes to System and the
// rest to the host. Money is never created by a receipt: a settlement is a
// transaction of kind settle from the consumer's own balance.
//
// Format. A settlement's Meta is 0x01, a 2-byte count n (1 to
// MaxSettleReceipts) and n receipt IDs (32 bytes each, strictly ascending).
// Dst System pays the reserve part of those receipts, any other Dst their
// host part. A Settler batches a consumer's owed receipts per host, at most
// MaxSettleReceipts per batch, into one transaction to the host and one to
// System.
//
// At most once, on the consumer. The Settler writes the signed
// transactions, the rows "receipt part paid by transaction" and the
// caller's pool entries (PoolFunc) in one SQLite transaction, and marks the
// receipts paid there. A crash leaves all of it or none of it; a restart
// sends the same bytes again (same hash, same nonce), never a new payment.
// A consumer that cannot pay (its spendable balance is below amounts plus
// fees) signs nothing.
//
// At most once, at the witnesses. A consumer that lost its database could
// sign a second payment of the same receipts with a new nonce; the
// witnesses' Validator, PaidIndex, refuses it. A witness claims each
// (receipt, part, payer) for the first settlement it validates and keeps
// the claim in SQLite; a certified settlement's claim replaces an
// uncertified one (the index reads the ledger's certificates). Claim: with
// Byzantine weight f < n/3, no two certificates of one payer pay one
// receipt part. Proof: let c2 be the later-formed of two such certificates
// and c1 the earlier. Their quorums each exceed 2/3 of the weight, so they
// share more than 1/3, hence an honest witness w. w voted for both. Votes
// follow validation, and w's claim changes only to a certified
// transaction's: when w voted for the second of the two, its claim named
// the first (it voted for it, and the first's claim could only have been
// replaced by a certificate of another transaction, which would be formed
// before c1 and c2 and, by the same argument, cannot exist), so it refused.
// The payer is part of the claim because a receipt ID is no secret (blocks
// carry receipts): another node naming someone's receipts pays the host
// from its own balance and does not block the consumer's own payment. What
// a witness cannot check without the receipts is the amount; the consumer
// pays what its own node computed, and the host's numbers reconcile with
// the certificates it receives. The simulation (sim_settle_test.go) mixes
// settlements into its schedules, with a Byzantine and a forgetful payer
// naming receipts twice, and checks CheckPaidOnce on every honest ledger.
//
// Limits. A claim by a settlement that never becomes final (its nonce
// taken by another transaction) keeps that receipt part from being paid
// by its payer through that witness: a safe failure, the host is not paid
// twice. The claims table grows with the receipts paid, like the ledger's
// certificates.
package economy
