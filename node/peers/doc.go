// Package peers is the node's view of the mesh: the peer table (in SQLite,
// one transaction per observation from any source), polling of static
// peers, discovery by signed beacons on the radio links, SWIM membership
// and failure detection (memberlist), and mesh routing health (batctl,
// babeld or a metrics file). It reaches other nodes only through the small
// interfaces it declares (Fetcher), so it knows nothing of HTTP.
//
// Lock order in membership: Membership.mu is never held while calling into
// memberlist, because memberlist calls the delegates (which take mu) while
// holding its own node lock.
package peers
