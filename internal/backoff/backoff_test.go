package backoff

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func TestSeconds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{{0, 0}, {time.Millisecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {15 * time.Minute, 900}} {
		if got := Seconds(tt.d); got != tt.want {
			t.Errorf("Seconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// TestLimiter checks the back-off schedule, expiry and the table's
// bound with many more addresses than it holds.
func TestLimiter(t *testing.T) {
	t.Parallel()
	t.Run("schedule", func(t *testing.T) {
		clock := &clock{t: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)}
		l := New(DefaultMaxAddresses, clock.now)
		a := netip.MustParseAddr("192.0.2.7")
		want := []time.Duration{0, 0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
		for range 10 {
			want = append(want, min(2*want[len(want)-1], MaxBackoff))
		}
		want = append(want, MaxBackoff, MaxBackoff) // and it stays there
		var got []time.Duration
		for i := range want {
			failures, backoff := l.Fail(a)
			if failures != i+1 {
				t.Fatalf("fail #%d reported %d failures", i+1, failures)
			}
			if w := l.Wait(a); w != backoff {
				t.Fatalf("wait after fail #%d = %v, want the back-off %v", i+1, w, backoff)
			}
			got = append(got, backoff)
			clock.Advance(backoff)
			if w := l.Wait(a); w != 0 {
				t.Fatalf("wait once the back-off of fail #%d passed = %v, want 0", i+1, w)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("back-off per failure (-want +got):\n%s", diff)
		}
		// A day after the last failure the address starts afresh.
		clock.Advance(Forget)
		if failures, backoff := l.Fail(a); failures != 1 || backoff != 0 {
			t.Errorf("fail a day later = %d failures, back-off %v; want 1 and 0", failures, backoff)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		clock := &clock{t: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)}
		l := New(DefaultMaxAddresses, clock.now)
		const n = 10000
		addrs := make([]netip.Addr, n)
		for i := range addrs {
			addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			l.Fail(addrs[i])
			clock.Advance(time.Millisecond)
			if got := l.Len(); got > DefaultMaxAddresses {
				t.Fatalf("table holds %d addresses after %d, want at most %d", got, i+1, DefaultMaxAddresses)
			}
		}
		// The newest addresses are remembered, the oldest forgotten.
		if failures, _ := l.Fail(addrs[n-1]); failures != 2 {
			t.Errorf("newest address: %d failures, want 2 (remembered)", failures)
		}
		if failures, _ := l.Fail(addrs[0]); failures != 1 {
			t.Errorf("oldest address: %d failures, want 1 (evicted)", failures)
		}
		// Expired entries go before live ones are evicted.
		clock.Advance(Forget)
		l.Fail(netip.MustParseAddr("192.0.2.1"))
		if got := l.Len(); got != 1 {
			t.Errorf("table holds %d addresses after all expired and one failure, want 1", got)
		}
	})
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		remote string
		want   string
		label  string
	}{
		{"192.0.2.7:5555", "192.0.2.7", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5555", "192.0.2.7", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:80", "fe80::", "fe80::/64"},
		{"[::1]:80", "::", "::/64"},
		{"not an address", "invalid IP", "invalid IP"},
	}
	for _, tt := range tests {
		if got := ClientAddr(tt.remote).String(); got != tt.want {
			t.Errorf("ClientAddr(%q) = %q, want %q", tt.remote, got, tt.want)
		}
		if got := AddrLabel(ClientAddr(tt.remote)); got != tt.label {
			t.Errorf("AddrLabel(ClientAddr(%q)) = %q, want %q", tt.remote, got, tt.label)
		}
	}
}
