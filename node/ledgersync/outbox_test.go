package ledgersync

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// newOutboxNode returns a service with a small outbox and a clock the test
// moves.
func newOutboxNode(t *testing.T, out OutboxConfig) (*Service, *testClock) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blocks, err := ledger.OpenBlockStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := New(ctx, Config{Outbox: out}, Deps{DB: db, Blocks: blocks, Keys: keys, ClusterID: func() string { return "t" },
		AuthorOK: func(identity.NodeID) bool { return true }, Logger: slog.New(slog.DiscardHandler), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func newID(t *testing.T) identity.NodeID {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

// TestOutboxBoundsAndLifetime: the outbox refuses items past its count and
// byte bounds (keeping what it holds), one copy per item, refuses bad
// items, and drops items whose lifetime ran out.
func TestOutboxBoundsAndLifetime(t *testing.T) {
	ctx := context.Background()
	s, c := newOutboxNode(t, OutboxConfig{MaxItems: 3, MaxBytes: MaxPayload + 10, TTL: time.Hour})
	dest := newID(t)
	for i := range 3 {
		if err := s.Send(ctx, dest, "test", []byte(fmt.Sprint("item ", i)), 0); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := s.Send(ctx, dest, "test", []byte("item 0"), 0); err != nil {
		t.Fatalf("Send of a queued item again = %v, want a no-op", err)
	}
	if err := s.Send(ctx, dest, "test", []byte("one too many"), 0); !errors.Is(err, nodeerr.ErrBusy) {
		t.Fatalf("Send past MaxItems = %v, want ErrBusy", err)
	}
	bad := []struct {
		name    string
		dest    identity.NodeID
		kind    string
		payload []byte
	}{
		{"bad kind", dest, "Bad Kind", []byte("x")},
		{"empty payload", dest, "test", nil},
		{"payload too large", dest, "test", make([]byte, MaxPayload+1)},
		{"bad destination", "did:key:nope", "test", []byte("x")},
		{"itself", s.deps.Keys.ID(), "test", []byte("x")},
	}
	for _, b := range bad {
		if err := s.Send(ctx, b.dest, b.kind, b.payload, 0); !errors.Is(err, nodeerr.ErrInvalid) {
			t.Errorf("%s: Send = %v, want ErrInvalid", b.name, err)
		}
	}
	items, err := s.Outbox(ctx, 10)
	if err != nil || len(items) != 3 {
		t.Fatalf("Outbox() = %d items, %v; want 3", len(items), err)
	}
	c.t = c.t.Add(time.Hour + time.Second)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.Outbox(ctx, 10); len(items) != 0 {
		t.Fatalf("expired items kept: %d", len(items))
	}
	// Room again, by bytes too: one payload of the largest size fits, a
	// second does not.
	if err := s.Send(ctx, dest, "test", make([]byte, MaxPayload), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, dest, "test", make([]byte, 11), 0); !errors.Is(err, nodeerr.ErrBusy) {
		t.Fatalf("Send past MaxBytes = %v, want ErrBusy", err)
	}
}

// TestAcceptOnce: an item addressed to the node is handled once however
// often it arrives; an item for another node is carried once; a kind
// without a handler is refused.
func TestAcceptOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := newOutboxNode(t, OutboxConfig{})
	handled := 0
	s.Handle("test", func(context.Context, identity.NodeID, []byte) error { handled++; return nil })
	from := newID(t)
	mine := Item{Dest: s.deps.Keys.ID(), Kind: "test", Payload: []byte("pay 5"), TTL: time.Hour}
	for i, want := range []Outcome{Delivered, Duplicate, Duplicate} {
		if out, err := s.Accept(ctx, from, mine); err != nil || out != want {
			t.Fatalf("copy %d: Accept = %q, %v; want %q", i, out, err, want)
		}
	}
	if handled != 1 {
		t.Fatalf("handled %d times, want once", handled)
	}
	other := Item{Dest: newID(t), Kind: "test", Payload: []byte("for someone else"), TTL: time.Hour}
	for i, want := range []Outcome{Carried, Duplicate} {
		if out, err := s.Accept(ctx, from, other); err != nil || out != want {
			t.Fatalf("carried copy %d: Accept = %q, %v; want %q", i, out, err, want)
		}
	}
	if items, _ := s.Outbox(ctx, 10); len(items) != 1 || items[0].Carriers != 1 || items[0].Origin != from {
		t.Fatalf("outbox after carrying = %+v, want one item, marked as had by its sender", items)
	}
	if _, err := s.Accept(ctx, from, Item{Dest: s.deps.Keys.ID(), Kind: "unknown", Payload: []byte("x"), TTL: time.Hour}); !errors.Is(err, nodeerr.ErrInvalid) {
		t.Fatalf("Accept of an unhandled kind = %v, want ErrInvalid", err)
	}
}
