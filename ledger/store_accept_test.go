package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/offgrid-net/offgrid/identity"
)

func TestStoreAccept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestStore(t)
	host, consumer, other := testKeys(t, 1), testKeys(t, 2), testKeys(t, 3)
	var stored []Receipt
	for i := range 3 {
		r := sampleV2(t)
		r.JobID = fmt.Sprintf("job-%d", i)
		if i == 2 {
			r.ConsumerID = other.ID()
		}
		got, err := s.SignAndAppend(ctx, host, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, got)
	}
	acc0, err := Accept(consumer, stored[0])
	if err != nil {
		t.Fatal(err)
	}
	acc2, err := Accept(other, stored[2])
	if err != nil {
		t.Fatal(err)
	}
	// Receipt 1 signed again with a different seq: the same consumer's
	// acceptance of it names no stored receipt.
	foreign := stored[1]
	foreign.Seq = 2
	foreign.JobID = "job-elsewhere"
	foreign, _ = Accept(consumer, mustSign(t, host, foreign))
	unaccepted := stored[1]

	tests := []struct {
		name string
		r    Receipt
		want error
	}{
		{"accepted", acc0, nil},
		{"again", acc0, nil},
		{"other consumer", acc2, nil},
		{"no acceptance", unaccepted, ErrBadAcceptance},
		{"not stored", foreign, ErrUnknownReceipt},
	}
	for _, tt := range tests {
		if err := s.Accept(ctx, tt.r); !errors.Is(err, tt.want) {
			t.Errorf("%s: Accept() = %v, want %v", tt.name, err, tt.want)
		}
	}
	got, err := s.Accepted(ctx, consumer.ID(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Receipt{acc0}, got); diff != "" {
		t.Errorf("Accepted(consumer) (-want +got):\n%s", diff)
	}
	cs, err := s.Consumers(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]identity.NodeID{other.ID(), consumer.ID()}, cs); diff != "" {
		t.Errorf("Consumers() (-want +got):\n%s", diff)
	}
	recent, _ := s.Recent(ctx, 3)
	if recent[2].Acceptance != acc0.Acceptance || recent[1].Acceptance != "" {
		t.Errorf("stored acceptances = %q, %q; want receipt 1's set and receipt 2's empty", recent[2].Acceptance, recent[1].Acceptance)
	}
}
