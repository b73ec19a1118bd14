package economy

import "errors"

// Errors callers act on. Each refusal wraps exactly one of them (and
// ErrInvalid wraps malformed input), so the HTTP layer maps them to one
// status each.
var (
	// ErrWrongEpoch: the transaction or certificate is of another cluster
	// or of an epoch this node has no committee for.
	ErrWrongEpoch = errors.New("wrong cluster or epoch")
	// ErrNotFinal: the votes carry 2/3 of the weight or less.
	ErrNotFinal = errors.New("not final: more than 2/3 of the witness weight needed")
	// ErrConflict: the witness voted for another transaction with the same
	// (src, nonce) in this round, or another certificate of that (src,
	// nonce) was already applied.
	ErrConflict = errors.New("conflicts with another transaction of the same source and nonce")
	// ErrPreviousNotFinal: the source's previous nonce is not final here.
	ErrPreviousNotFinal = errors.New("the previous nonce of the source is not final")
	// ErrNonceUsed: a transaction with this (src, nonce) is already final.
	ErrNonceUsed = errors.New("nonce already final")
	// ErrInsufficient: the source cannot pay amount and fee from final
	// certificates.
	ErrInsufficient = errors.New("insufficient final balance")
	// ErrFee: the fee is outside the epoch's tx_fee_min..tx_fee_max.
	ErrFee = errors.New("fee out of bounds")
	// ErrNotValidated: the kind needs a Validator, and it refused (or the
	// witness has none).
	ErrNotValidated = errors.New("not accepted by the witness's validator")
	// ErrRoundClosed: the witness reported this (src, nonce) round for
	// recovery and votes in it no more; a release opens the next round.
	ErrRoundClosed = errors.New("round closed for recovery")
	// ErrNoEquivocation: a report was asked without two different
	// transactions of one (src, nonce).
	ErrNoEquivocation = errors.New("no equivocation shown")
	// ErrNotReleased: the reports do not show that no transaction of the
	// round can be final.
	ErrNotReleased = errors.New("reports do not release the round")
	// ErrFull: too many certificates wait for their dependencies.
	ErrFull = errors.New("too many waiting certificates")
)
