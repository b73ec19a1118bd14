package history

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/internal/periodic"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// The history table has its own migrations (component "node-history"), so
// it numbers its versions apart from the node's other tables.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Config configures the recorded history.
type Config struct {
	// Interval is how often a sample is recorded. Default 1 minute;
	// negative: never (tests record samples when they choose).
	Interval time.Duration
	// Keep is how long samples are kept; older ones are deleted at each
	// sample. Default 7 days.
	Keep time.Duration
}

// DefaultConfig is the recorded history's default configuration.
func DefaultConfig() Config { return Config{Interval: time.Minute, Keep: 7 * 24 * time.Hour} }

// Usage is the node's storage and network figures at one time.
type Usage struct {
	At time.Time
	// PeersUp counts the peers that are up, of PeersTotal known.
	PeersUp, PeersTotal int
	// BytesIn and BytesOut are shard bytes received and sent: for a
	// recorded sample, during its interval; from Deps.Sample, since the
	// node started.
	BytesIn, BytesOut int64
	// ShardsHosted counts the shards this node stores for other nodes,
	// HostedBytes the bytes their blobs take.
	ShardsHosted int
	HostedBytes  int64
	// FilesOwned counts this node's own files, FilesHealthy those stored
	// with every stripe above its repair threshold.
	FilesOwned, FilesHealthy int
	// DiskUsed and DiskFree are the data directory's file system's used
	// bytes and bytes free for the node (0 when it cannot be read).
	DiskUsed, DiskFree int64
}

// Deps are what the recorder needs from the node.
type Deps struct {
	DB *sql.DB
	// Sample returns the node's figures now, with its traffic counted
	// since it started.
	Sample func(context.Context) (Usage, error)
	Logger *slog.Logger
}

// Recorder records and reads samples. It is safe for concurrent use.
type Recorder struct {
	cfg  Config
	deps Deps

	// mu serializes samples: each stores the traffic since the previous
	// one, so it remembers the counters at the last sample.
	mu              sync.Mutex
	lastIn, lastOut int64
}

// New migrates the history table and returns its recorder. Zero fields of
// cfg take DefaultConfig's values.
func New(ctx context.Context, cfg Config, deps Deps) (*Recorder, error) {
	d := DefaultConfig()
	if cfg.Interval == 0 {
		cfg.Interval = d.Interval
	}
	if cfg.Keep <= 0 {
		cfg.Keep = d.Keep
	}
	if deps.DB == nil || deps.Sample == nil {
		return nil, fmt.Errorf("history: a database and a sampler are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if err := sqlitedb.Migrate(ctx, deps.DB, "node-history", migrations); err != nil {
		return nil, err
	}
	return &Recorder{cfg: cfg, deps: deps}, nil
}

// Record records one sample now and deletes the samples older than
// Config.Keep. Run calls it every Config.Interval; tests call it to record
// samples at the times they choose.
func (r *Recorder) Record(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, err := r.deps.Sample(ctx)
	if err != nil {
		return err
	}
	in, out := u.BytesIn, u.BytesOut
	u.BytesIn, u.BytesOut = in-r.lastIn, out-r.lastOut
	return sqlitedb.InTx(ctx, r.deps.DB, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO node_history(at, peers_up, peers_total, bytes_in,
			bytes_out, shards_hosted, hosted_bytes, files_owned, files_healthy, disk_used, disk_free)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, u.At.UnixMilli(), u.PeersUp, u.PeersTotal, u.BytesIn, u.BytesOut,
			u.ShardsHosted, u.HostedBytes, u.FilesOwned, u.FilesHealthy, u.DiskUsed, u.DiskFree); err != nil {
			return fmt.Errorf("record history: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM node_history WHERE at < ?`,
			u.At.Add(-r.cfg.Keep).UnixMilli()); err != nil {
			return fmt.Errorf("trim history: %w", err)
		}
		r.lastIn, r.lastOut = in, out
		return nil
	})
}

// Since returns the recorded samples taken at or after since, oldest
// first.
func (r *Recorder) Since(ctx context.Context, since time.Time) ([]Usage, error) {
	rows, err := r.deps.DB.QueryContext(ctx, `SELECT at, peers_up, peers_total, bytes_in, bytes_out, shards_hosted,
		hosted_bytes, files_owned, files_healthy, disk_used, disk_free FROM node_history WHERE at >= ? ORDER BY at`,
		since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer rows.Close()
	var out []Usage
	for rows.Next() {
		var u Usage
		var at int64
		if err := rows.Scan(&at, &u.PeersUp, &u.PeersTotal, &u.BytesIn, &u.BytesOut, &u.ShardsHosted,
			&u.HostedBytes, &u.FilesOwned, &u.FilesHealthy, &u.DiskUsed, &u.DiskFree); err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		u.At = time.UnixMilli(at).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// Run records a sample every Config.Interval until ctx ends. A failed
// sample is logged and the next one tried.
func (r *Recorder) Run(ctx context.Context) error {
	return periodic.Run(ctx, r.cfg.Interval, func(ctx context.Context) {
		if err := r.Record(ctx); err != nil && ctx.Err() == nil {
			r.deps.Logger.Warn("Record history sample", "err", err)
		}
	})
}
