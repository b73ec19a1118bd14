// Package economy is the engine's part that runs the cluster's economy
// (package economy at the top of the module) inside a node: the witness
// service, the sending side of transfers, the pool of this node's own
// transactions that are not final, the auto-finalizer and the spreading of
// certificates.
//
// # Sending
//
// A transfer gets the next nonce of this node's account (the ledger's, or
// one more than the newest pooled), is signed and written to
// node_econ_pool before any witness sees it: after a crash the node never
// signs a second transaction for a nonce it used, which would be an
// equivocation. Every witness of the epoch is asked at once, each with a
// bounded wait (Config.AskTimeout); a witness that refuses is asked once
// more with the certificates that credit the sender (and the sender's
// previous one), which it may not have seen. Votes whose weight exceeds 2/3
// of the epoch's total form the certificate, which is applied here and
// pushed to every up peer. Transactions of one sender are asked in nonce
// order, one at a time: a witness signs nonce n only once n-1 is final.
//
// # Waiting for witnesses
//
// With less weight than that answering, the transaction stays in the pool
// in state "waiting" (an event on the bus says so, with the witnesses'
// reasons), and the auto-finalizer asks the witnesses that have not voted
// every Config.RetryInterval until it is final. Votes are kept in memory
// only: after a restart they are asked for again, and a witness gives the
// same vote for the transaction it locked. The pool is bounded
// (Config.MaxPool); a transfer beyond it is refused with ErrBusy.
//
// # Certificates
//
// A certificate is final everywhere; it needs no vote of this node. Every
// certificate seen (made here, pushed by a peer, attached to a witness
// request, pulled) goes to the economy package's ledger, which verifies it
// against its epoch's fixed witness weights, stores it and applies it
// exactly once; one that spends credits of a certificate not seen here
// waits there and is applied when they arrive. Certificates made here are
// queued (at most 1,024; beyond that they spread by anti-entropy only) and
// a spreader goroutine pushes them, up to 64 per request, to every up
// peer. The ledger's storage order is what anti-entropy pages through:
// every Config.PullInterval the node reads, from Config.Fanout up peers in
// turn, their log after the position it reached (kept in memory per peer
// while the peer is up; from the start after a restart, which applies
// nothing twice).
//
// # Job payments
//
// PayJob pays a host for a job this node brokered with a plain transfer
// (memo "job ID"), not a kind the witnesses must validate: a second payment
// could only hurt the payer, and the payer alone can rule it out. The
// (job, host) row (node_econ_job_paid) and the signed transfer enter the
// database in one SQLite transaction, under the lock that hands out
// nonces, so a job is paid to a host at most once however often the
// broker accepts it (a restart resumes an unfinished job, which may have
// been paid); a second call signs nothing and the pool resends the first
// transfer until it is final. Only the broker's own database names its
// jobs (their IDs are random), so once that database is lost no job of it
// is accepted, or paid, again. CanSpend is the check before a job is
// dispatched: the final balance less what the pool spends must cover the
// prices and a fee per payment.
//
// Balances are never merged as numbers: /gossip/merge_balances takes only
// certificates.
package economy
