package trust

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// openDB returns a SQLite file in a temporary directory with node's
// node_cluster migration applied.
func openDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	schema, err := os.ReadFile(filepath.Join("..", "migrations", "0004_cluster.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), string(schema)); err != nil {
		t.Fatal(err)
	}
	return db
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newKeys(t *testing.T) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newService(t *testing.T, db *sql.DB, self identity.NodeID, cfg Config) *Service {
	t.Helper()
	c := &clock{t: time.Unix(1_000_000, 0)}
	s, err := New(t.Context(), cfg, Deps{DB: db, Self: self, Logger: slog.New(slog.DiscardHandler), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must(d cluster.Document, err error) cluster.Document {
	if err != nil {
		panic(err)
	}
	return d
}

// signed returns d signed by k.
func signed(t *testing.T, d cluster.Document, k *identity.Keys) cluster.Document {
	t.Helper()
	d, err := d.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestInstallRules(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	admin, self, other, stranger := newKeys(t), newKeys(t), newKeys(t), newKeys(t)
	id, _ := cluster.NewID(rand.Reader)
	v1 := signed(t, must(cluster.New(id, []identity.NodeID{admin.ID()}, 1, []cluster.Member{{ID: self.ID(), Name: "self"}})), admin)
	notUs := signed(t, must(cluster.New(id, []identity.NodeID{admin.ID()}, 1, []cluster.Member{{ID: other.ID(), Name: "other"}})), admin)
	v2 := signed(t, must(v1.WithMember(other.ID(), "other")), admin)
	forged := signed(t, must(v1.WithMember(stranger.ID(), "evil")), stranger)
	sid, _ := cluster.NewID(rand.Reader)
	foreign := signed(t, must(cluster.New(sid, []identity.NodeID{stranger.ID()}, 1, []cluster.Member{{ID: self.ID(), Name: "self"}})), stranger)

	s := newService(t, db, self.ID(), Config{})
	steps := []struct {
		name string
		doc  cluster.Document
		want error
	}{
		{"a first document that does not admit us", notUs, nodeerr.ErrConflict},
		{"the first document", v1, nil},
		{"the same again", v1, nil},
		{"a successor", v2, nil},
		{"an older one", v1, nodeerr.ErrConflict},
		{"signed by a stranger", forged, nodeerr.ErrInvalid},
		{"another cluster admitting us", foreign, nodeerr.ErrConflict},
	}
	for _, st := range steps {
		err := s.Install(t.Context(), st.doc)
		if (st.want == nil) != (err == nil) || (st.want != nil && !errors.Is(err, st.want)) {
			t.Errorf("Install(%s) = %v, want %v", st.name, err, st.want)
		}
	}
	if !s.IsMember(other.ID()) || s.IsMember(stranger.ID()) {
		t.Errorf("after v2: member(other) = %v, member(stranger) = %v; want true, false", s.IsMember(other.ID()), s.IsMember(stranger.ID()))
	}
	// A restart keeps the installed version.
	again := newService(t, db, self.ID(), Config{})
	if d, ok := again.Document(); !ok || d.Serial != 2 {
		t.Errorf("after a restart: document serial %d (ok %v), want 2", d.Serial, ok)
	}
	// A stranger's document offered over the network is refused without
	// Join, even when it admits this node.
	fresh := newService(t, openDB(t, t.TempDir()), self.ID(), Config{})
	b, _ := foreign.Encode()
	if ok, _ := fresh.Offer(t.Context(), b); ok {
		t.Error("a node holding no document installed a stranger's cluster offered to it")
	}
	joining := newService(t, openDB(t, t.TempDir()), self.ID(), Config{Join: id.String()})
	if ok, _ := joining.Offer(t.Context(), b); ok {
		t.Error("a node joining one cluster installed another")
	}
	b, _ = v2.Encode()
	if ok, err := joining.Offer(t.Context(), b); !ok {
		t.Errorf("Offer(the cluster it joins) = %v, want installed", err)
	}
}

func TestPendingIsBounded(t *testing.T) {
	testutil.CheckGoroutines(t)
	self := newKeys(t)
	s := newService(t, openDB(t, t.TempDir()), self.ID(), Config{MaxPending: 4})
	ids := make([]identity.NodeID, 6)
	for i := range ids {
		ids[i] = newKeys(t).ID()
	}
	for i, id := range ids[:4] {
		s.NotePending(id, fmt.Sprint("n", i), "http://127.0.0.1:1", "udp")
	}
	s.NotePending(ids[0], "n0", "http://127.0.0.1:1", "udp") // heard again: now the freshest
	s.NotePending(ids[4], "n4", "http://127.0.0.1:1", "udp") // evicts the longest silent, n1
	s.NotePending(ids[5], "n5", "http://127.0.0.1:1", "udp") // evicts n2
	s.NotePending(self.ID(), "me", "http://127.0.0.1:1", "udp")
	var got []string
	for _, p := range s.PendingNodes() {
		got = append(got, p.Name)
	}
	want := []string{"n5", "n4", "n0", "n3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PendingNodes() = %v, want %v", got, want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Errorf("Run = %v", err)
	}
}
