package web

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
)

// TestOwedCard: receipts a host bills this node for show on the wallet
// page as owed (rows, total), and the bill is on the wallet's feed; with
// nothing owed the card says so.
func TestOwedCard(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	hdr := map[string]string{"Cookie": cookie}

	_, body := e.do(t, "GET", "/wallet", nil, hdr)
	if len(byTestID(body, "owed-empty")) != 1 {
		t.Fatalf("wallet page with nothing owed lacks the empty note:\n%s", body)
	}

	host, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	feed := e.dialFeed(t, cookie)
	var rs []ledger.Receipt
	for i := range 3 {
		r, err := ledger.SignReceipt(host, ledger.Receipt{Version: ledger.ReceiptVersion2, ResourceType: ledger.ResourceCompute,
			JobID: fmt.Sprintf("owed-%d", i), Units: 1_500_000, Seq: uint64(i + 1), ConsumerID: e.keys.ID(), UnitPrice: 2_000_000})
		if err != nil {
			t.Fatal(err)
		}
		if r, err = ledger.Accept(e.keys, r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if n, err := e.node.Bill(t.Context(), host.ID(), rs); err != nil || n != 3 {
		t.Fatalf("Bill = %d, %v", n, err)
	}
	wantAll(t, "bill on the dashboard feed", readMsg(t, feed), `data-kind="receipts_billed"`, "billed 3 accepted receipts")

	_, body = e.do(t, "GET", "/wallet", nil, hdr)
	rows := byTestID(body, "owed-row")
	total := byTestID(body, "owed-total")
	if len(rows) != 3 || len(total) != 1 || rows[0].Attrs["data-pending"] != "false" {
		t.Fatalf("owed card = %d rows, total %+v; want 3 unpaid rows and a total:\n%s", len(rows), total, body)
	}
	wantAll(t, "owed card", body, "9 <span", "credits owed")
}

// TestStorageBilledText: the feed says which host billed how much of the
// owner's data for which window, and what it costs.
func TestStorageBilledText(t *testing.T) {
	host, owner := identity.NodeID("did:key:z6MkjTPCuJe7gktJcNwCkTyYPsZqVLYQWhtxndmtHdVbzC6Y"),
		identity.NodeID("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
	w := ledger.StorageWindow{Start: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC).Unix(), Seconds: 3600}
	r := ledger.Receipt{NodeID: host, ResourceType: ledger.ResourceStorage, JobID: w.JobID(owner), Units: 7340,
		UnitPrice: 100_000, Metrics: map[string]float64{ledger.MetricBytes: 7 << 20}}
	want := "did:key:z6MkjTPCuJe7… billed keeping 7.0 MiB of your shards, Dec 6 10:00:00–11:00:00 UTC: 0.000734 credits owed."
	if got := storageBilledText(r); got != want {
		t.Errorf("storageBilledText = %q\nwant %q", got, want)
	}
}
