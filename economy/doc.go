// Package economy is the money of a cluster: transactions signed by their
// source, witness votes, certificates that make a transaction final, the
// witness's locks and the ledger of applied certificates, both in SQLite
// (migration component "economy"), and the recovery of a slot whose
// source equivocated. It is plain logic and storage: node/economy carries
// votes and certificates between nodes.
//
// The full argument (formats, witness rule, no double spend, recovery
// bound, why finality does not decay) follows below.
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
