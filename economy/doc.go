// Package economy is the money of a cluster: transactions signed by their
// source, witness votes, certificates that make a transaction final, the
// witness's locks and the ledger of applied certificates, both in SQLite
// (migration component "economy"), and the recovery of a slot whose
// source equivocated. It is plain logic and storage: node/economy carries
// votes and certificates between nodes.
//
// The full argument (formats, witness rule, no double spend, recovery
// bound, why finality does not decay) follows below.
package economy
