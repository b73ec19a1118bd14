package peerclient

import (
	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
)

// Connect returns the node.Config.Connect function that reaches other nodes
// over HTTP: shards, blocks, outbox items, the economy's and settlement's
// requests through shardDoer (signed with the node's key), polls and
// cluster documents through pollDoer.
func Connect(shardDoer, pollDoer gen.HttpRequestDoer) func(*identity.RequestSigner) node.Remote {
	return func(signer *identity.RequestSigner) node.Remote {
		return node.Remote{Shards: NewShards(shardDoer, signer), Announces: NewAnnounces(pollDoer), Clusters: NewClusters(pollDoer),
			Ledger: NewLedger(shardDoer, signer), Economy: NewEconomy(shardDoer, signer), Receipts: NewReceipts(shardDoer, signer),
			Jobs: NewJobs(shardDoer, signer)}
	}
}
