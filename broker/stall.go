package broker

import "time"

// SLA holds the rules a host that accepted a job must keep, and when the
// broker moves the job on. DefaultSLA gives the seed's values.
type SLA struct {
	// Activate: the host must report the job started within this time.
	Activate time.Duration
	// StallAge: a running job whose progress rose by less than MinDelta
	// for this long is stalled.
	StallAge time.Duration
	MinDelta float64
	// Cooldown between two re-dispatches of one job.
	Cooldown time.Duration
	// MaxRetries re-dispatches per job after the first dispatch.
	MaxRetries int
}

// DefaultSLA: t_activate 30 s, stall age 90 s, minimum progress delta 0.05,
// cooldown 60 s, at most 3 retries.
func DefaultSLA() SLA {
	return SLA{Activate: 30 * time.Second, StallAge: 90 * time.Second, MinDelta: 0.05, Cooldown: 60 * time.Second, MaxRetries: 3}
}

// Progress is what the broker knows of one dispatch.
type Progress struct {
	Dispatched time.Time
	Started    bool
	StartedAt  time.Time
	// Value is the last progress reported (0 to 1) and Moved when it last
	// rose by at least MinDelta (or the start, when it never did).
	Value float64
	Moved time.Time
}

// Observe records a progress report at now.
func (s SLA) Observe(p Progress, started bool, value float64, now time.Time) Progress {
	if started && !p.Started {
		p.Started, p.StartedAt, p.Moved = true, now, now
	}
	if value-p.Value >= s.MinDelta {
		p.Value, p.Moved = value, now
	}
	return p
}

// Late says why a dispatch broke its SLA at now, or "" when it did not: not
// started within Activate, stalled for StallAge, or running for longer than
// the job's timeout (plus slack for the polls that observe it).
func (s SLA) Late(p Progress, timeout, slack time.Duration, now time.Time) string {
	switch {
	case !p.Started && now.Sub(p.Dispatched) >= s.Activate:
		return "not started within t_activate"
	case p.Started && now.Sub(p.Moved) >= s.StallAge:
		return "stalled"
	case p.Started && now.Sub(p.StartedAt) > timeout+slack:
		return "past the job's timeout"
	}
	return ""
}

// MayRetry says whether a job dispatched retries times, last at last, may
// be re-dispatched at now.
func (s SLA) MayRetry(retries int, last, now time.Time) bool {
	return retries < s.MaxRetries && (last.IsZero() || now.Sub(last) >= s.Cooldown)
}
