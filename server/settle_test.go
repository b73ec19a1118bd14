package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// contractReceipts returns the bodies of the settlement contract cases:
// {accepted}, a receipt tn signed for a job peer asked for, accepted by
// peer; {bill}, a bill from peer as a host of a receipt tn accepted.
func contractReceipts(t *testing.T, tn *servertest.Node, peer *identity.Keys, signer *identity.RequestSigner) map[string][]byte {
	t.Helper()
	body := []byte(`{"job_id":"contract-accept","metrics":{"compute_tokens_m":2}}`)
	req := newRequest(t, tn, http.MethodPost, "/run", body, false)
	if err := signer.Sign(req, identity.BodyDigest(body)); err != nil {
		t.Fatal(err)
	}
	r := do(t, tn, req)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("signed POST /run = %d %s", r.StatusCode, r.body)
	}
	var run struct {
		Receipt ledger.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal(r.body, &run); err != nil {
		t.Fatal(err)
	}
	if run.Receipt.Version != ledger.ReceiptVersion2 || run.Receipt.ConsumerID != peer.ID() {
		t.Fatalf("signed /run receipt = version %s, consumer %s; want 0.2 naming the caller", run.Receipt.Version, run.Receipt.ConsumerID)
	}
	acc, err := ledger.Accept(peer, run.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	accepted, _ := json.Marshal(acc)

	var bill []ledger.Receipt
	for i := range 3 {
		h, err := ledger.SignReceipt(peer, ledger.Receipt{Version: ledger.ReceiptVersion2, ResourceType: ledger.ResourceCompute,
			JobID: fmt.Sprintf("bill-%d", i), Units: 1_000_000, Seq: uint64(i + 1), ConsumerID: tn.Keys.ID(), UnitPrice: 500_000})
		if err != nil {
			t.Fatal(err)
		}
		if h, err = ledger.Accept(tn.Keys, h); err != nil {
			t.Fatal(err)
		}
		bill = append(bill, h)
	}
	billJSON, _ := json.Marshal(map[string]any{"receipts": bill})
	return map[string][]byte{"{accepted}": accepted, "{bill}": billJSON}
}
