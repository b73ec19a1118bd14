package node

import "github.com/prometheus/client_golang/prometheus"

// metrics are the node's Prometheus metrics.
type metrics struct {
	active        prometheus.Gauge
	receipts      prometheus.Counter
	shardsStored  prometheus.Counter
	shardBytes    prometheus.Counter
	shardsCorrupt prometheus.Counter
	storeBusy     prometheus.Counter
	// shardsDropped and shardsCollected count shards removed at their
	// owner's request and by the lease collector.
	shardsDropped   prometheus.Counter
	shardsCollected prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "offgrid_host_active", Help: "1 when the host accepts work, 0 when switched off."}),
		receipts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_receipts_signed_total", Help: "Usage receipts signed."}),
		shardsStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_shards_stored_total", Help: "Shards stored for other nodes."}),
		shardBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_shard_bytes_stored_total", Help: "Bytes of shards stored."}),
		shardsCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_shards_corrupt_total", Help: "Stored shards that failed their integrity check."}),
		storeBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_store_busy_total", Help: "Shard uploads refused because the concurrency limit was reached."}),
		shardsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_shards_deleted_total", Help: "Hosted shards deleted at the request of the node that stored them."}),
		shardsCollected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_shards_collected_total", Help: "Hosted shards dropped because nobody claimed them for the grace period."}),
	}
	if reg != nil {
		reg.MustRegister(m.active, m.receipts, m.shardsStored, m.shardBytes, m.shardsCorrupt, m.storeBusy,
			m.shardsDropped, m.shardsCollected)
	}
	return m
}
