package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Errors a Transport reports, so the pipeline knows whether to retry the
// same host, try another one, or give up.
var (
	// ErrHostBusy: the host is at its upload limit (HTTP 503); retry later.
	ErrHostBusy = errors.New("host busy")
	// ErrHostRefused: the host will not take this shard (inactive, full,
	// conflicting content); try another host.
	ErrHostRefused = errors.New("host refused")
	// ErrHostUnreachable: the host did not answer; retry, then try another.
	ErrHostUnreachable = errors.New("host unreachable")
)

// ShardAddr names one shard of one stripe of an asset.
type ShardAddr struct {
	AssetID       string
	Stripe, Index int
}

// HostAssetID is the asset ID a host stores the shard under: one address
// space per stripe, so indexes stay within 0..255.
func (a ShardAddr) HostAssetID() string { return fmt.Sprintf("%s.%d", a.AssetID, a.Stripe) }

// A Transport moves shards to and from hosts, and tells hosts which shards
// their owner still needs and which it no longer does. Implementations must be safe
// for concurrent use, honour ctx, bound every request in time and size, and
// wrap their errors in ErrHostBusy, ErrHostRefused, ErrHostUnreachable or
// ErrNotFound.
type Transport interface {
	// PutShard stores data (whose BLAKE3 is hash) on host.
	PutShard(ctx context.Context, host Candidate, addr ShardAddr, data []byte, hash string) error
	// GetShard reads a shard from host into buf, whose length is the most
	// the caller takes (a longer shard is refused), and returns the bytes
	// read: a prefix of buf. The caller owns buf and checks the bytes.
	GetShard(ctx context.Context, host Candidate, addr ShardAddr, buf []byte) ([]byte, error)
	// StatShard returns the hash the host has for a shard.
	StatShard(ctx context.Context, host Candidate, addr ShardAddr) (string, error)
	// DeleteShard asks host to drop a shard this node stored there
	// (ErrNotFound: it has none).
	DeleteShard(ctx context.Context, host Candidate, addr ShardAddr) error
	// ClaimShards renews this node's lease on shards it stored on host (at
	// most MaxClaimBatch) and returns how many the host renewed.
	ClaimShards(ctx context.Context, host Candidate, addrs []ShardAddr) (int, error)
}

// TransferConfig bounds the network work of puts, gets and repairs.
type TransferConfig struct {
	// Window is how many shard transfers run at once. Default 8.
	Window int
	// Retries is how many times a failed transfer is retried on the same
	// host before another host is tried. Default 3.
	Retries int
	// Replacements is how many other hosts a shard upload tries after its
	// first host failed. Default 3.
	Replacements int
	// BackoffBase and BackoffMax bound the exponential backoff between
	// retries (full jitter). Defaults 50 ms and 2 s.
	BackoffBase, BackoffMax time.Duration
	// RepairThreshold: a stripe with fewer live shards than this (capped at
	// n) is rebuilt. Zero means k+2.
	RepairThreshold int
	// MinLinkRate is the slowest rate, in bytes per second, at which a host
	// is still expected to send a shard: with ShardTimeoutBase it sets each
	// shard request's deadline (ShardDeadline). Default 128 KiB/s, about
	// what a busy multi-hop Wi-Fi mesh link still carries.
	MinLinkRate int64
	// ShardTimeoutBase is the part of a shard request's deadline that does
	// not depend on its size: connecting, the host's disk read and hash
	// check. Default 5 s.
	ShardTimeoutBase time.Duration
	// HedgeDelay is the shortest time a read waits for a shard before it
	// also asks a spare one (a hedged read); on a slower link the delay
	// grows to four times the usual fetch time. Default 500 ms.
	HedgeDelay time.Duration
}

// DefaultTransferConfig returns the defaults a zero TransferConfig field
// takes.
func DefaultTransferConfig() TransferConfig {
	return TransferConfig{Window: 8, Retries: 3, Replacements: 3, BackoffBase: 50 * time.Millisecond, BackoffMax: 2 * time.Second,
		MinLinkRate: 128 << 10, ShardTimeoutBase: 5 * time.Second, HedgeDelay: 500 * time.Millisecond}
}

func (c TransferConfig) withDefaults() TransferConfig {
	d := DefaultTransferConfig()
	if c.Window <= 0 {
		c.Window = d.Window
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = d.Retries
	}
	if c.Replacements <= 0 {
		c.Replacements = d.Replacements
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = d.BackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = d.BackoffMax
	}
	if c.MinLinkRate <= 0 {
		c.MinLinkRate = d.MinLinkRate
	}
	if c.ShardTimeoutBase <= 0 {
		c.ShardTimeoutBase = d.ShardTimeoutBase
	}
	if c.HedgeDelay <= 0 {
		c.HedgeDelay = d.HedgeDelay
	}
	return c
}

// ShardDeadline is how long one request for a shard of size bytes may
// take: ShardTimeoutBase plus the time the shard needs at MinLinkRate.
func (c TransferConfig) ShardDeadline(size int) time.Duration {
	c = c.withDefaults()
	return c.ShardTimeoutBase + time.Duration(float64(size)/float64(c.MinLinkRate)*float64(time.Second))
}

// putShardWithin uploads one shard to host within the shard deadline of its
// size, so a host that stops answering mid-upload costs one deadline, not
// whatever the HTTP client allows a whole request.
func putShardWithin(ctx context.Context, cfg TransferConfig, tr Transport, host Candidate, addr ShardAddr, data []byte, hash string) error {
	deadline := cfg.ShardDeadline(len(data))
	rctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	err := tr.PutShard(rctx, host, addr, data, hash)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		return fmt.Errorf("%w: %s took no shard within %s", ErrHostUnreachable, host.Endpoint, deadline)
	}
	return err
}

// Threshold is the repair threshold for a k/n code: RepairThreshold, or
// k+2, at most n.
func (c TransferConfig) Threshold(k, n int) int {
	t := c.RepairThreshold
	if t <= 0 {
		t = k + 2
	}
	return min(t, n)
}

// retry runs op until it succeeds, fails with an error that retrying the
// same host cannot fix, or has been retried cfg.Retries times, sleeping
// with exponential backoff and full jitter in between.
func retry(ctx context.Context, cfg TransferConfig, op func() error) error {
	var err error
	for attempt := 0; ; attempt++ {
		if err = op(); err == nil {
			return nil
		}
		if !errors.Is(err, ErrHostBusy) && !errors.Is(err, ErrHostUnreachable) || attempt >= cfg.Retries {
			return err
		}
		if err := sleep(ctx, backoff(cfg, attempt)); err != nil {
			return err
		}
	}
}

// backoff returns the wait before retry number attempt+1: exponential,
// with full jitter.
func backoff(cfg TransferConfig, attempt int) time.Duration {
	limit := min(cfg.BackoffMax, cfg.BackoffBase<<attempt)
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

// sleep waits for d or until ctx ends, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
