package web

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the dashboard's Prometheus metrics.
type metrics struct {
	loginFailures  prometheus.Counter
	loginThrottled prometheus.Counter
}

// newMetrics makes the dashboard's metrics and registers them on reg, if
// set.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_dashboard_login_failures_total",
			Help: "Dashboard logins refused for a wrong admin token."}),
		loginThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_dashboard_login_throttled_total",
			Help: "Dashboard logins refused unread (429) because their address was backing off after wrong tokens."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.loginFailures, m.loginThrottled} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register dashboard metrics: %w", err)
		}
	}
	return m, nil
}
