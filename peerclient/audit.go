package peerclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/storage"
)

var _ storage.Auditor = (*Shards)(nil)

// AuditShard implements storage.Auditor: POST /shards/{asset}/{index}/audit
// with the nonce and range, signed by the node's key.
func (t *Shards) AuditShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, ask storage.AuditAsk) (string, error) {
	req := gen.AuditRequest{Nonce: hex.EncodeToString(ask.Nonce[:])}
	if ask.Length > 0 {
		// A whole-shard ask sends no range, so a host from before ranges
		// existed still answers it.
		req.Offset, req.Length = &ask.Offset, &ask.Length
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("encode audit: %w", err)
	}
	c, err := t.client(host, identity.BodyDigest(body))
	if err != nil {
		return "", fmt.Errorf("%w: %v", storage.ErrHostRefused, err)
	}
	resp, err := c.AuditShardWithBody(ctx, addr.HostAssetID(), addr.Index, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("%w: %v", storage.ErrHostUnreachable, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != 200 {
		return "", hostErr(resp.StatusCode, answer)
	}
	var p gen.AuditProof
	if err := json.Unmarshal(answer, &p); err != nil {
		return "", fmt.Errorf("%w: audit answer: %v", storage.ErrHostRefused, err)
	}
	return p.Proof, nil
}
