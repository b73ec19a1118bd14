package peerclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/storage"
)

// Shards moves shards between this node and other hosts through the
// generated API client, signing every request with the node's key. It is
// safe for concurrent use.
type Shards struct {
	doer   gen.HttpRequestDoer
	signer *identity.RequestSigner
}

var _ storage.Transport = (*Shards)(nil)

// NewShards returns a shard transport over doer. doer should bound idle
// connections, and not cap whole requests below what a large shard over a
// slow link needs.
func NewShards(doer gen.HttpRequestDoer, signer *identity.RequestSigner) *Shards {
	return &Shards{doer: doer, signer: signer}
}

var emptyDigest = identity.BodyDigest(nil)

func (t *Shards) client(host storage.Candidate, digest string) (*gen.Client, error) {
	return signedClient(t.doer, t.signer, host.Endpoint, digest)
}

// hostErr classifies a host's answer for the storage pipeline.
func hostErr(status int, body []byte) error {
	detail := strings.TrimSpace(string(body))
	if len(detail) > 200 {
		detail = detail[:200]
	}
	switch {
	case status == 503:
		return fmt.Errorf("%w: %s", storage.ErrHostBusy, detail)
	case status == 404 || status == 410:
		return fmt.Errorf("%w: host answered %d", storage.ErrNotFound, status)
	case status >= 500:
		return fmt.Errorf("%w: host answered %d: %s", storage.ErrHostUnreachable, status, detail)
	default:
		return fmt.Errorf("%w: host answered %d: %s", storage.ErrHostRefused, status, detail)
	}
}

// PutShard implements storage.Transport.
func (t *Shards) PutShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, data []byte, hash string) error {
	c, err := t.client(host, hash)
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrHostRefused, err)
	}
	resp, err := c.PutShardWithBody(ctx, addr.HostAssetID(), addr.Index, &gen.PutShardParams{OffgridShardHash: &hash},
		"application/octet-stream", bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrHostUnreachable, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != 201 {
		return hostErr(resp.StatusCode, body)
	}
	return nil
}

// GetShard implements storage.Transport.
func (t *Shards) GetShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, buf []byte) ([]byte, error) {
	c, err := t.client(host, emptyDigest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", storage.ErrHostRefused, err)
	}
	resp, err := c.GetShard(ctx, addr.HostAssetID(), addr.Index)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", storage.ErrHostUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, hostErr(resp.StatusCode, body)
	}
	if resp.ContentLength < 0 || resp.ContentLength > int64(len(buf)) {
		return nil, fmt.Errorf("%w: shard of %d bytes, at most %d expected", storage.ErrHostRefused, resp.ContentLength, len(buf))
	}
	// Read straight into the caller's buffer: no growing and copying.
	data := buf[:resp.ContentLength]
	if _, err := io.ReadFull(resp.Body, data); err != nil {
		return nil, fmt.Errorf("%w: read shard: %v", storage.ErrHostUnreachable, err)
	}
	return data, nil
}

// StatShard implements storage.Transport.
func (t *Shards) StatShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr) (string, error) {
	c, err := t.client(host, emptyDigest)
	if err != nil {
		return "", fmt.Errorf("%w: %v", storage.ErrHostRefused, err)
	}
	resp, err := c.StatShard(ctx, addr.HostAssetID(), addr.Index)
	if err != nil {
		return "", fmt.Errorf("%w: %v", storage.ErrHostUnreachable, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", hostErr(resp.StatusCode, nil)
	}
	return resp.Header.Get("Offgrid-Shard-Hash"), nil
}

// DeleteShard implements storage.Transport.
func (t *Shards) DeleteShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr) error {
	c, err := t.client(host, emptyDigest)
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrHostRefused, err)
	}
	resp, err := c.DeleteShard(ctx, addr.HostAssetID(), addr.Index)
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrHostUnreachable, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != 204 {
		return hostErr(resp.StatusCode, body)
	}
	return nil
}

// ClaimShards implements storage.Transport.
func (t *Shards) ClaimShards(ctx context.Context, host storage.Candidate, addrs []storage.ShardAddr) (int, error) {
	req := gen.ClaimRequest{Shards: make([]gen.ShardAddress, len(addrs))}
	for i, a := range addrs {
		req.Shards[i] = gen.ShardAddress{AssetId: a.HostAssetID(), Index: a.Index}
	}
	// The signature covers the body's digest: marshal it once, sign and send
	// those bytes.
	body, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("%w: encode claim: %v", storage.ErrHostRefused, err)
	}
	c, err := t.client(host, identity.BodyDigest(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", storage.ErrHostRefused, err)
	}
	resp, err := c.ClaimShardsWithBody(ctx, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", storage.ErrHostUnreachable, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != 200 {
		return 0, hostErr(resp.StatusCode, data)
	}
	var res gen.ClaimResult
	if err := json.Unmarshal(data, &res); err != nil {
		return 0, fmt.Errorf("%w: decode claim answer: %v", storage.ErrHostRefused, err)
	}
	return res.Claimed, nil
}
