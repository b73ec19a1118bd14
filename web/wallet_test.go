package web

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
)

// startEconomy gives the node's cluster an economy with the node as its
// sole witness, with 10 credits for it and 5 for other.
func (e *testEnv) startEconomy(t *testing.T, other identity.NodeID) {
	t.Helper()
	d, _ := e.node.Cluster()
	d, err := d.WithMember(other, "other")
	if err != nil {
		t.Fatal(err)
	}
	if d, err = d.WithEconomy(cluster.Economy{Witnesses: []cluster.Witness{{ID: e.node.Info().ID, Weight: 1}},
		TxFeeMin: 1000, TxFeeMax: 1000, Genesis: []cluster.Alloc{{ID: e.node.Info().ID, Amount: 10_000000}, {ID: other, Amount: 5_000000}}}); err != nil {
		t.Fatal(err)
	}
	// The genesis of an economy needs its witness's signature too.
	if d, err = d.Sign(e.keys); err != nil {
		t.Fatal(err)
	}
	e.install(t, d)
}

func TestWalletWithoutEconomy(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	resp, body := e.do(t, "GET", "/wallet", nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /wallet = %d", resp.StatusCode)
	}
	if links := byTestID(body, "nav-wallet"); len(links) != 1 || links[0].Attrs["aria-current"] != "page" {
		t.Errorf("Wallet link = %+v, want it marked current", links)
	}
	if msg, _ := testIDText(body, "wallet-error"); !strings.Contains(msg, "no economy") {
		t.Errorf("wallet-error = %q, want it to say the cluster has no economy", msg)
	}
}

func TestWalletTransfer(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	other, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.startEconomy(t, other.ID())
	cookie := e.login(t)
	hdr := map[string]string{"Cookie": cookie, "HX-Request": "true"}
	balances := func() map[string]int64 {
		b, err := e.node.Balances(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return b.Accounts
	}
	before := balances()
	sub := e.subscribe(t)
	for _, tc := range []struct {
		name, dst, amount, want string
	}{
		{"not a number", string(other.ID()), "lots", "positive number of credits"},
		{"zero", string(other.ID()), "0", "positive number of credits"},
		{"seven decimals", string(other.ID()), "0.0000001", "positive number of credits"},
		{"no destination", "", "1", "node ID (did:key:z…) or system"},
		{"bad node ID", "did:key:z6Mkbroken", "1", "destination"},
		{"more than the balance", string(other.ID()), "10", "insufficient funds"},
		{"to itself", string(e.node.Info().ID), "1", "own account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, "POST", "/ui/wallet/transfer", url.Values{"dst": {tc.dst}, "amount": {tc.amount}}, hdr)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("status = %d, want 422", resp.StatusCode)
			}
			if msg, _ := testIDText(body, "transfer-error"); !strings.Contains(msg, tc.want) {
				t.Errorf("transfer-error = %q, want it to say %q", msg, tc.want)
			}
		})
	}
	if diff := cmp.Diff(before, balances()); diff != "" {
		t.Errorf("refused transfers changed balances (-before +after):\n%s", diff)
	}
	if evs := published(sub); len(evs) != 0 {
		t.Errorf("node events after refused transfers: %+v, want none", evs)
	}

	resp, body := e.do(t, "POST", "/ui/wallet/transfer", url.Values{"dst": {string(other.ID())}, "amount": {"2.5"}, "memo": {"seeds"}}, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("transfer: status %d\n%s", resp.StatusCode, body)
	}
	if sent := byTestID(body, "transfer-sent"); len(sent) != 1 || sent[0].Attrs["data-state"] != "final" {
		t.Errorf("transfer-sent = %+v, want one, final", sent)
	}
	// The answer carries the wallet's cards out of band, with the new balance.
	if got, _ := testIDText(body, "own-balance"); got != "7.499" {
		t.Errorf("own-balance after sending 2.5 with a fee of 0.001 = %q, want 7.499", got)
	}
	want := map[string]int64{string(e.node.Info().ID): 7_499000, string(other.ID()): 7_500000, "system": 1000}
	if diff := cmp.Diff(want, balances()); diff != "" {
		t.Errorf("balances after the transfer (-want +got):\n%s", diff)
	}
}
