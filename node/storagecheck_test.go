package node

import (
	"errors"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
)

// TestCheckStorageReceipt: the owner accepts a host's storage receipt only
// if it is that host's, for this owner and the window asked, for some but
// no more units than the bytes asked are worth, at no more than the
// owner's highest price. Each way a host could lie is refused.
func TestCheckStorageReceipt(t *testing.T) {
	const host, other, owner = identity.NodeID("did:key:host"), identity.NodeID("did:key:other"), identity.NodeID("did:key:owner")
	want := StorageBill{Window: ledger.StorageWindow{Start: 7200, Seconds: 3600}, Bytes: 1_000_000_000} // one unit
	honest := ledger.Receipt{NodeID: host, ConsumerID: owner, ResourceType: ledger.ResourceStorage,
		JobID: want.Window.JobID(owner), Units: 1_000_000, UnitPrice: 100_000}
	tests := []struct {
		name string
		edit func(*ledger.Receipt)
		ok   bool
	}{
		{"honest", func(*ledger.Receipt) {}, true},
		{"fewer units than asked (the host kept less)", func(r *ledger.Receipt) { r.Units = 1 }, true},
		{"at the highest price", func(r *ledger.Receipt) { r.UnitPrice = 1_000_000 }, true},
		{"more units than asked", func(r *ledger.Receipt) { r.Units = 1_000_001 }, false},
		{"no units", func(r *ledger.Receipt) { r.Units = 0 }, false},
		{"above the highest price", func(r *ledger.Receipt) { r.UnitPrice = 1_000_001 }, false},
		{"another host's receipt", func(r *ledger.Receipt) { r.NodeID = other }, false},
		{"for another consumer", func(r *ledger.Receipt) { r.ConsumerID = other }, false},
		{"for another window", func(r *ledger.Receipt) {
			r.JobID = ledger.StorageWindow{Start: 3600, Seconds: 3600}.JobID(owner)
		}, false},
		{"for another owner's window", func(r *ledger.Receipt) { r.JobID = want.Window.JobID(other) }, false},
		{"a compute receipt", func(r *ledger.Receipt) { r.ResourceType = ledger.ResourceCompute }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := honest
			tt.edit(&r)
			err := checkStorageReceipt(r, host, owner, want, 1_000_000)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrConflict)) {
				t.Fatalf("checkStorageReceipt = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
