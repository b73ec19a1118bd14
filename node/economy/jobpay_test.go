package economy

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node/events"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// A job is paid to a host at most once: a second call, and a call after a
// restart on the same database, sign nothing and name the first transfer,
// whether it became final (one witness, this node) or still waits for a
// witness that cannot be reached (the pool resends it). A submitter that
// cannot pay signs and records nothing.
func TestPayJobAtMostOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		witnesses int // this node and witnesses-1 unreachable ones
		state     string
	}{
		{"final", 1, StateFinal},
		{"waiting for a witness", 2, StateWaiting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			keys := newKeys(t)
			others := []*identity.Keys{newKeys(t), newKeys(t)}
			id, err := cluster.NewID(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			members := []cluster.Member{{ID: keys.ID(), Name: "payer"}, {ID: others[0].ID(), Name: "h1"}, {ID: others[1].ID(), Name: "h2"}}
			d, err := cluster.New(id, []identity.NodeID{keys.ID()}, 1, members)
			if err != nil {
				t.Fatal(err)
			}
			e := cluster.Economy{TxFeeMin: 1000, TxFeeMax: 1000, Genesis: []cluster.Alloc{{ID: keys.ID(), Amount: 30_000000}}}
			signers := []*identity.Keys{keys}
			for i := range tc.witnesses {
				w := keys
				if i > 0 {
					w = others[i-1]
					signers = append(signers, w)
				}
				e.Witnesses = append(e.Witnesses, cluster.Witness{ID: w.ID(), Weight: 1})
			}
			if d, err = d.WithEconomy(e); err != nil {
				t.Fatal(err)
			}
			for _, k := range signers {
				if d, err = d.Sign(k); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "offgrid.db")
			start := func() *Service {
				db, err := sqlitedb.Open(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				s, err := New(ctx, Config{AskTimeout: time.Second}, Deps{
					DB: db, Keys: keys, Document: func() (cluster.Document, bool) { return d, true },
					Peers:  func(context.Context) map[identity.NodeID]string { return nil },
					Events: events.NewBus(time.Now), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
				})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			host, other := string(others[0].ID()), string(others[1].ID())
			s := start()
			first, fresh, err := s.PayJob(ctx, "j-1", host, 10_000000)
			if err != nil || !fresh {
				t.Fatalf("first payment: fresh %v, %v", fresh, err)
			}
			if st, err := s.Tx(ctx, first); err != nil || st.State != tc.state {
				t.Fatalf("first payment is %q (%v), want %q", st.State, err, tc.state)
			}
			again, fresh, err := s.PayJob(ctx, "j-1", host, 10_000000)
			if err != nil || fresh || again != first {
				t.Fatalf("second payment: fresh %v, same %v, %v; want the first, nothing signed", fresh, again == first, err)
			}
			s = start() // a restart: the pool and the paid rows come from the database
			again, fresh, err = s.PayJob(ctx, "j-1", host, 10_000000)
			if err != nil || fresh || again != first {
				t.Fatalf("payment after a restart: fresh %v, same %v, %v; want the first, nothing signed", fresh, again == first, err)
			}
			if _, fresh, err = s.PayJob(ctx, "j-1", other, 10_000000); err != nil || !fresh {
				t.Fatalf("the job's other host: fresh %v, %v", fresh, err)
			}
			// 30 - 2 x 10.001 leaves 9.998: not enough for 10 plus the fee.
			if _, _, err = s.PayJob(ctx, "j-2", host, 10_000000); !errors.Is(err, nodeerr.ErrConflict) {
				t.Fatalf("payment beyond the balance: %v, want a conflict", err)
			}
			if err := s.CanSpend(ctx, 9_997000, 1); err != nil {
				t.Fatalf("CanSpend of what is left: %v", err)
			}
			if err := s.CanSpend(ctx, 9_997001, 1); !errors.Is(err, nodeerr.ErrConflict) {
				t.Fatalf("CanSpend beyond what is left: %v, want a conflict", err)
			}
			var pooled, rows int
			if err := s.deps.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM node_econ_job_paid`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if err := s.deps.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM node_econ_pool`).Scan(&pooled); err != nil {
				t.Fatal(err)
			}
			wantPooled := 0
			if tc.state == StateWaiting {
				wantPooled = 2
			}
			if rows != 2 || pooled != wantPooled {
				t.Fatalf("%d paid rows and %d pooled transfers, want 2 and %d", rows, pooled, wantPooled)
			}
		})
	}
}

func newKeys(t *testing.T) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
