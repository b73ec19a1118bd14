package economy

// TransferFinal says a certificate was applied here: the transaction is
// final.
type TransferFinal struct {
	TxID        [32]byte
	Src, Dst    string
	Amount, Fee int64
	Nonce       uint64
}

// Kind implements events.Event.
func (TransferFinal) Kind() string { return "transfer_final" }

// TxProgress says the witness weight of one of this node's transactions
// changed (the wallet page fills its bar with it).
type TxProgress struct {
	TxID                  [32]byte
	Weight, Needed, Total uint64
}

// Kind implements events.Event.
func (TxProgress) Kind() string { return "tx_progress" }

// WaitingForWitnesses says one of this node's transactions has signatures
// of less weight than a certificate needs after asking every witness; the
// auto-finalizer asks again every Config.RetryInterval.
type WaitingForWitnesses struct {
	TxID           [32]byte
	Weight, Needed uint64
	// Reason is what the witnesses that did not sign answered.
	Reason string
}

// Kind implements events.Event.
func (WaitingForWitnesses) Kind() string { return "waiting_for_witnesses" }
