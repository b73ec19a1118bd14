package servertest

import (
	"crypto/rand"
	"slices"
	"sync"
	"testing"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
)

// Cluster puts test nodes in one cluster whose admin key the test holds.
// Start admits each node given it (and Options.Members) and installs the
// new document on every node of the cluster at once, so that the nodes
// accept each other's signed requests and beacons from the start.
type Cluster struct {
	// Admin is the key that signs every version.
	Admin *identity.Keys

	// mu guards doc and nodes.
	mu    sync.Mutex
	doc   cluster.Document
	nodes []*Node
}

// NewCluster returns an empty cluster with a fresh admin key.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	admin, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatalf("identity.Generate: %v", err)
	}
	id, err := cluster.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d, err := cluster.New(id, []identity.NodeID{admin.ID()}, 1, nil)
	if err != nil {
		t.Fatalf("cluster.New: %v", err)
	}
	return &Cluster{Admin: admin, doc: d}
}

// Document returns the current version.
func (c *Cluster) Document() cluster.Document {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.doc
}

// Next returns the next version made by change from the current one,
// signed by the admin, without installing it anywhere (e.g. to install it
// on one node and watch it spread).
func (c *Cluster) Next(t testing.TB, change func(cluster.Document) (cluster.Document, error)) cluster.Document {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nextLocked(t, change)
}

func (c *Cluster) nextLocked(t testing.TB, change func(cluster.Document) (cluster.Document, error)) cluster.Document {
	t.Helper()
	d, err := change(c.doc)
	if err != nil {
		t.Fatalf("change cluster document: %v", err)
	}
	if d, err = d.Sign(c.Admin); err != nil {
		t.Fatalf("sign cluster document: %v", err)
	}
	c.doc = d
	return d
}

// Admit admits ids and installs the new version on every node of the
// cluster.
func (c *Cluster) Admit(t testing.TB, ids ...identity.NodeID) cluster.Document {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.admitLocked(t, ids)
}

func (c *Cluster) admitLocked(t testing.TB, ids []identity.NodeID) cluster.Document {
	t.Helper()
	d := c.nextLocked(t, func(d cluster.Document) (cluster.Document, error) {
		next := d
		for _, id := range ids {
			var err error
			if next, err = next.WithMember(id, "t-"+string(id[len(id)-6:])); err != nil {
				return cluster.Document{}, err
			}
		}
		// One version per call, however many were admitted.
		next.Serial = d.Serial + 1
		return next, nil
	})
	c.installLocked(t, c.nodes)
	return d
}

// Revoke revokes id and installs the new version on the given nodes (all
// of the cluster's when none is given).
func (c *Cluster) Revoke(t testing.TB, id identity.NodeID, on ...*Node) cluster.Document {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.nextLocked(t, func(d cluster.Document) (cluster.Document, error) { return d.WithRevoked(id) })
	if len(on) == 0 {
		on = c.nodes
	}
	c.installLocked(t, on)
	return d
}

func (c *Cluster) installLocked(t testing.TB, nodes []*Node) {
	t.Helper()
	enc, err := c.doc.Encode()
	if err != nil {
		t.Fatalf("encode cluster document: %v", err)
	}
	for _, n := range nodes {
		if _, err := n.JoinCluster(t.Context(), enc); err != nil {
			t.Fatalf("install cluster document on %s: %v", n.URL, err)
		}
	}
}

// add admits n and members, and installs the new version on every node.
// A node leaves the list when the test that started it ends (it stops
// then), so a node restarted on the same data gets the later versions.
func (c *Cluster) add(t testing.TB, n *Node, members []identity.NodeID) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = append(c.nodes, n)
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.nodes = slices.DeleteFunc(c.nodes, func(m *Node) bool { return m == n })
	})
	c.admitLocked(t, append(slices.Clone(members), n.Keys.ID()))
}
