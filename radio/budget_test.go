package radio

import (
	"testing"
	"time"
)

func TestBudgetSlidingWindow(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	b := NewBudget(time.Hour, 0.01) // 36 s an hour
	steps := []struct {
		at   time.Duration // since t0
		dur  time.Duration
		want bool
	}{
		{0, 20 * time.Second, true},
		{10 * time.Minute, 16 * time.Second, true},   // 36 s: exactly the limit
		{20 * time.Minute, time.Millisecond, false},  // full
		{59 * time.Minute, time.Second, false},       // the first still counts
		{60 * time.Minute, 20 * time.Second, true},   // the first left the window
		{60 * time.Minute, time.Nanosecond, false},   // full again
		{70 * time.Minute, 16 * time.Second, true},   // the second left
		{200 * time.Minute, 36 * time.Second, true},  // a fresh window
		{200 * time.Minute, 36 * time.Second, false}, // a burst beyond it
		{300 * time.Minute, 37 * time.Second, false}, // larger than the whole budget
	}
	for _, s := range steps {
		if got := b.Admit(t0.Add(s.at), s.dur); got != s.want {
			t.Errorf("admit(t0+%v, %v) = %v, want %v (used %v)", s.at, s.dur, got, s.want, b.Used(t0.Add(s.at)))
		}
	}
	if got := b.Used(t0.Add(400 * time.Minute)); got != 0 || len(b.sends) != 0 {
		t.Errorf("after a quiet window: used %v with %d entries, want 0 and none", got, len(b.sends))
	}
}
