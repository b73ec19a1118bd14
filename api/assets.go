package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

func (h *handlers) PutAsset(ctx context.Context, req genserver.PutAssetRequestObject) (genserver.PutAssetResponseObject, error) {
	p := req.Params
	opts := node.PutOptions{Size: -1}
	if size, ok := contentLength(ctx); ok {
		opts.Size = size
	}
	if p.Name != nil {
		opts.Name = *p.Name
	}
	if p.Mode != nil {
		opts.Mode = string(*p.Mode)
	}
	opts.K, opts.N, opts.R, opts.ShardSize = deref(p.K), deref(p.N), deref(p.R), deref(p.ShardSize)
	opts.AllowSharedHosts = p.AllowSharedHosts != nil && *p.AllowSharedHosts
	if p.Recipients != nil && *p.Recipients != "" {
		opts.Recipients = strings.Split(*p.Recipients, ",")
	}
	if p.OffgridContentHash != nil {
		opts.ContentHash = *p.OffgridContentHash
	}
	if p.OffgridPolicy != nil {
		policy, err := base64.RawURLEncoding.DecodeString(*p.OffgridPolicy)
		if err != nil {
			return nil, fmt.Errorf("%w: Offgrid-Policy must be base64url without padding", problem.ErrBadRequest)
		}
		opts.Policy = policy
	}
	a, err := h.node.PutAsset(ctx, req.Body, opts)
	if err != nil {
		return nil, err
	}
	if a.AlreadyStored {
		return genserver.PutAsset200JSONResponse(assetDTO(a)), nil
	}
	return genserver.PutAsset201JSONResponse(assetDTO(a)), nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func (h *handlers) ListAssets(ctx context.Context, req genserver.ListAssetsRequestObject) (genserver.ListAssetsResponseObject, error) {
	var as []node.Asset
	var err error
	if req.Params.FileHash != nil {
		as, err = h.node.AssetsWithContent(ctx, *req.Params.FileHash)
	} else {
		as, err = h.node.Assets(ctx)
	}
	if err != nil {
		return nil, err
	}
	out := genserver.ListAssets200JSONResponse{Assets: make([]gen.Asset, 0, len(as))}
	for _, a := range as {
		out.Assets = append(out.Assets, assetDTO(a))
	}
	return out, nil
}

func (h *handlers) GetAsset(ctx context.Context, req genserver.GetAssetRequestObject) (genserver.GetAssetResponseObject, error) {
	a, err := h.node.Asset(ctx, req.AssetId)
	if err != nil {
		return nil, err
	}
	return genserver.GetAsset200JSONResponse(assetDTO(a)), nil
}

func (h *handlers) GetAssetContent(ctx context.Context, req genserver.GetAssetContentRequestObject) (genserver.GetAssetContentResponseObject, error) {
	rc, a, err := h.node.OpenAsset(ctx, req.AssetId)
	if err != nil {
		return nil, err
	}
	return assetStream{body: rc, asset: a, log: h.log}, nil
}

// assetStream writes a file's plaintext. A failure after the headers went
// out aborts the connection: the client must not take a truncated file for
// a whole one.
type assetStream struct {
	body  io.ReadCloser
	asset node.Asset
	log   *slog.Logger
}

func (s assetStream) VisitGetAssetContentResponse(w http.ResponseWriter) error {
	defer s.body.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(s.asset.Size))
	w.Header().Set("Offgrid-Content-Hash", s.asset.FileHash)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, s.body); err != nil {
		s.log.Warn("Asset download failed midway", "asset", s.asset.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (h *handlers) RepairAsset(ctx context.Context, req genserver.RepairAssetRequestObject) (genserver.RepairAssetResponseObject, error) {
	rep, err := h.node.RepairAsset(ctx, req.AssetId)
	if err != nil {
		return nil, err
	}
	return genserver.RepairAsset200JSONResponse{
		Asset: assetDTO(rep.Asset), Rebuilt: rep.Rebuilt, Unplaced: rep.Unplaced, MarkedDead: rep.MarkedDead,
	}, nil
}

func (h *handlers) DeleteAsset(ctx context.Context, req genserver.DeleteAssetRequestObject) (genserver.DeleteAssetResponseObject, error) {
	rep, err := h.node.DeleteAsset(ctx, req.AssetId)
	if err != nil {
		return nil, err
	}
	return genserver.DeleteAsset200JSONResponse{Dropped: rep.Dropped, Pending: rep.Pending}, nil
}

func (h *handlers) ShareAsset(ctx context.Context, req genserver.ShareAssetRequestObject) (genserver.ShareAssetResponseObject, error) {
	out, err := h.node.ShareAsset(ctx, req.AssetId, identity.NodeID(req.Body.To), req.Body.BoxKey)
	if err != nil {
		return nil, err
	}
	var sh genserver.ShareAsset200JSONResponse
	if err := json.Unmarshal(out, &sh); err != nil {
		return nil, fmt.Errorf("decode share: %w", err)
	}
	return sh, nil
}

func (h *handlers) ImportAsset(ctx context.Context, req genserver.ImportAssetRequestObject) (genserver.ImportAssetResponseObject, error) {
	// The signature covers the manifest's fields, not its JSON bytes, so
	// the validated body re-encoded is the manifest as sent.
	manifest, err := json.Marshal(req.Body)
	if err != nil {
		return nil, fmt.Errorf("encode share: %w", err)
	}
	a, err := h.node.ImportAsset(ctx, manifest)
	if err != nil {
		return nil, err
	}
	return genserver.ImportAsset201JSONResponse(assetDTO(a)), nil
}

func (h *handlers) DeleteShard(ctx context.Context, req genserver.DeleteShardRequestObject) (genserver.DeleteShardResponseObject, error) {
	if err := h.node.DeleteShard(ctx, req.AssetId, req.Index, callerName(ctx)); err != nil {
		return nil, err
	}
	return genserver.DeleteShard204Response{}, nil
}

func (h *handlers) ClaimShards(ctx context.Context, req genserver.ClaimShardsRequestObject) (genserver.ClaimShardsResponseObject, error) {
	addrs := make([]node.ShardAddress, len(req.Body.Shards))
	for i, a := range req.Body.Shards {
		addrs[i] = node.ShardAddress{AssetID: a.AssetId, Index: a.Index}
	}
	claimed, err := h.node.ClaimShards(ctx, callerName(ctx), addrs)
	if err != nil {
		return nil, err
	}
	return genserver.ClaimShards200JSONResponse{Claimed: claimed}, nil
}

func (h *handlers) StatShard(ctx context.Context, req genserver.StatShardRequestObject) (genserver.StatShardResponseObject, error) {
	sh, err := h.node.StatShard(ctx, req.AssetId, req.Index)
	if errors.Is(err, node.ErrNotFound) {
		return genserver.StatShard404Response{}, nil
	}
	if err != nil {
		return nil, err
	}
	return genserver.StatShard200Response{Headers: genserver.StatShard200ResponseHeaders{OffgridShardHash: &sh.Hash, ContentLength: &sh.Size}}, nil
}

func assetDTO(a node.Asset) gen.Asset {
	shards := a.StripeShards
	if shards == nil {
		shards = []int{}
	}
	return gen.Asset{
		AssetId: a.ID, Name: a.Name, Size: a.Size, FileHash: a.FileHash, Mode: gen.AssetMode(a.Mode),
		K: a.K, N: a.N, ShardSize: a.ShardSize, Stripes: a.Stripes, Adaptive: a.Adaptive,
		State: gen.AssetState(a.State), StripeShards: shards, MinLive: a.MinLive(), Hosts: a.Hosts,
		Survives:     int32(a.Survives), // below 256: at most the hosts holding shards minus one
		AuditsPassed: &a.AuditsPassed, AuditsFailed: &a.AuditsFailed,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

type contentLengthKey struct{}

// contentLength returns the request's Content-Length, which the guard puts
// in the context for streamed uploads (the strict server hides the request).
func contentLength(ctx context.Context) (int64, bool) {
	n, ok := ctx.Value(contentLengthKey{}).(int64)
	return n, ok && n >= 0
}
