package api

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/problem"
	"github.com/offgrid-net/offgrid/storage"
)

func (h *handlers) AuditShard(ctx context.Context, req genserver.AuditShardRequestObject) (genserver.AuditShardResponseObject, error) {
	var nonce [32]byte
	if req.Body == nil || len(req.Body.Nonce) != 2*len(nonce) {
		return nil, fmt.Errorf("%w: nonce must be 64 lower-case hex digits", problem.ErrBadRequest)
	}
	if _, err := hex.Decode(nonce[:], []byte(req.Body.Nonce)); err != nil {
		return nil, fmt.Errorf("%w: nonce must be 64 lower-case hex digits", problem.ErrBadRequest)
	}
	ask := storage.AuditAsk{Nonce: nonce}
	if req.Body.Offset != nil {
		ask.Offset = *req.Body.Offset
	}
	if req.Body.Length != nil {
		ask.Length = *req.Body.Length
	}
	proof, err := h.node.AuditShard(ctx, req.AssetId, req.Index, ask)
	if err != nil {
		return nil, err
	}
	return genserver.AuditShard200JSONResponse{Proof: proof}, nil
}
