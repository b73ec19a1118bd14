package radio

import "time"

// Budget is a sliding-window airtime log: it admits a transmission if the
// airtime admitted within the last window plus the new one stays within
// limit. The LoRa link (duty cycle of a sub-band) and the Bluetooth links
// (airtime of their advertisements) share it. It is not safe for concurrent
// use; each link guards it with its mutex.
//
// The log is bounded: every entry costs at least one byte of airtime and the
// entries within the window add up to at most limit, so it holds at most
// limit/(minimum airtime) entries, and older entries are pruned on each use.
type Budget struct {
	window time.Duration
	limit  time.Duration
	sends  []airtime // oldest first
	used   time.Duration
}

// Limit returns the airtime the budget admits per window.
func (b *Budget) Limit() time.Duration { return b.limit }

// Window returns the length of the sliding window.
func (b *Budget) Window() time.Duration { return b.window }

type airtime struct {
	at  time.Time
	dur time.Duration
}

// NewBudget returns a budget of dutyCycle × window airtime per window.
func NewBudget(window time.Duration, dutyCycle float64) *Budget {
	return &Budget{window: window, limit: time.Duration(float64(window) * dutyCycle)}
}

// Admit records a transmission of dur at now and reports true if it fits the
// budget; otherwise it records nothing and reports false.
func (b *Budget) Admit(now time.Time, dur time.Duration) bool {
	b.prune(now)
	if b.used+dur > b.limit {
		return false
	}
	b.sends = append(b.sends, airtime{at: now, dur: dur})
	b.used += dur
	return true
}

// Used returns the airtime spent within the window ending at now.
func (b *Budget) Used(now time.Time) time.Duration {
	b.prune(now)
	return b.used
}

// prune drops transmissions that are a full window or more in the past.
func (b *Budget) prune(now time.Time) {
	i := 0
	for i < len(b.sends) && now.Sub(b.sends[i].at) >= b.window {
		b.used -= b.sends[i].dur
		i++
	}
	if i > 0 {
		b.sends = append(b.sends[:0], b.sends[i:]...)
	}
}
