package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/node/assets"
)

// metrics are the node's Prometheus metrics.
type metrics struct {
	active        prometheus.Gauge
	receipts      prometheus.Counter
	shardsStored  prometheus.Counter
	shardBytes    prometheus.Counter
	shardsCorrupt prometheus.Counter
	storeBusy     prometheus.Counter
	// startupRemoved counts, by kind ("tmp", "blob"), what the shard store
	// cleaned up at start.
	startupRemoved *prometheus.GaugeVec
	// shardsScrubbed counts shards the periodic scrub re-read.
	shardsScrubbed prometheus.Counter
	// audits counts the owner's audits of its hosts by result (pass, fail, error).
	audits *prometheus.CounterVec
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
		startupRemoved: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "offgrid_shard_store_startup_removed",
			Help: "Leftovers the shard store removed at start: partial uploads (tmp) and blobs no shard pointed to (blob)."},
			[]string{"kind"}),
		shardsScrubbed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_shards_scrubbed_total", Help: "Stored shards re-read and checked by the periodic scrub."}),
		audits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offgrid_shard_audits_total", Help: "Audits of the hosts of this node's files, by result (pass, fail, error)."},
			[]string{"result"}),
		shardsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_shards_deleted_total", Help: "Hosted shards deleted at the request of the node that stored them."}),
		shardsCollected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offgrid_shards_collected_total", Help: "Hosted shards dropped because nobody claimed them for the grace period."}),
	}
	// Every result from the start, so a count of zero is visible as zero.
	for _, r := range []string{assets.AuditPass, assets.AuditFail, assets.AuditError} {
		m.audits.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.active, m.receipts, m.shardsStored, m.shardBytes, m.shardsCorrupt, m.storeBusy, m.startupRemoved, m.shardsScrubbed, m.audits,
			m.shardsDropped, m.shardsCollected)
	}
	return m
}
