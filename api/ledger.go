package api

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// blockDTO converts a block to its wire type through its JSON, which is
// the block's own encoding (the generated type has the same fields).
func blockDTO(b ledger.Block) (gen.Block, error) {
	js, err := json.Marshal(b)
	if err != nil {
		return gen.Block{}, fmt.Errorf("encode block: %w", err)
	}
	var out gen.Block
	if err := json.Unmarshal(js, &out); err != nil {
		return gen.Block{}, fmt.Errorf("encode block: %w", err)
	}
	return out, nil
}

// blockFrom decodes a wire block strictly (ledger.DecodeBlock); a bad one
// is a bad request.
func blockFrom(b gen.Block) (ledger.Block, error) {
	js, err := json.Marshal(b)
	if err != nil {
		return ledger.Block{}, fmt.Errorf("%w: %v", problem.ErrBadRequest, err)
	}
	blk, err := ledger.DecodeBlock(js)
	if err != nil {
		return ledger.Block{}, fmt.Errorf("%w: %w", node.ErrInvalid, err)
	}
	return blk, nil
}

func blockSummary(b ledger.Block, arrival int64) gen.BlockSummary {
	return gen.BlockSummary{
		Name:     b.Name().String(),
		Author:   string(b.Author),
		Height:   int64(b.Height),
		Parents:  append([]string{}, b.Parents...),
		Receipts: len(b.Receipts),
		Root:     b.Root,
		Arrival:  arrival,
	}
}

// sender is the node a signed request came from; the admin speaks for
// this node.
func (h *handlers) sender(ctx context.Context) identity.NodeID {
	if c, ok := CallerFrom(ctx); ok && !c.Admin {
		return c.Node
	}
	return h.node.Info().ID
}

func (h *handlers) GossipBlocks(ctx context.Context, req genserver.GossipBlocksRequestObject) (genserver.GossipBlocksResponseObject, error) {
	cid, heads, err := h.node.BlockHeads(ctx)
	if err != nil {
		return nil, err
	}
	out := genserver.GossipBlocks200JSONResponse{ClusterId: cid, Heads: make([]gen.BlockHead, len(heads)), Blocks: []gen.Block{}}
	for i, hd := range heads {
		out.Heads[i] = gen.BlockHead{Author: string(hd.Author), Height: int64(hd.Height), Name: hd.Name.String()}
	}
	if req.Params.Author == nil {
		return out, nil
	}
	after, limit := int64(0), 64
	if req.Params.After != nil {
		after = *req.Params.After
	}
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	if after < 0 {
		return nil, fmt.Errorf("%w: after must not be negative", problem.ErrBadRequest)
	}
	bs, err := h.node.BlocksByAuthor(ctx, identity.NodeID(*req.Params.Author), uint64(after), limit)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		dto, err := blockDTO(b)
		if err != nil {
			return nil, err
		}
		out.Blocks = append(out.Blocks, dto)
	}
	return out, nil
}

func (h *handlers) GossipBlock(ctx context.Context, req genserver.GossipBlockRequestObject) (genserver.GossipBlockResponseObject, error) {
	b, err := h.node.Block(ctx, req.Params.Name)
	if err != nil {
		return nil, err
	}
	dto, err := blockDTO(b)
	if err != nil {
		return nil, err
	}
	return genserver.GossipBlock200JSONResponse(dto), nil
}

func (h *handlers) AppendBlock(ctx context.Context, req genserver.AppendBlockRequestObject) (genserver.AppendBlockResponseObject, error) {
	if req.Body == nil {
		return nil, fmt.Errorf("%w: a block is required", problem.ErrBadRequest)
	}
	b, err := blockFrom(*req.Body)
	if err != nil {
		return nil, err
	}
	res, err := h.node.AppendBlock(ctx, h.sender(ctx), b)
	if err != nil {
		return nil, err
	}
	result := map[node.BlockResult]gen.BlockAppendedResult{
		node.BlockKnown: gen.Known, node.BlockStored: gen.Added, node.BlockHeld: gen.Held,
	}[res]
	return genserver.AppendBlock200JSONResponse{Name: b.Name().String(), Result: result}, nil
}

func (h *handlers) ForwardItem(ctx context.Context, req genserver.ForwardItemRequestObject) (genserver.ForwardItemResponseObject, error) {
	if req.Body == nil {
		return nil, fmt.Errorf("%w: an item is required", problem.ErrBadRequest)
	}
	it := node.OutboxItem{
		Dest:    identity.NodeID(req.Body.Dest),
		Kind:    req.Body.Kind,
		Payload: req.Body.Payload,
		TTL:     time.Duration(req.Body.TtlSeconds) * time.Second,
	}
	out, err := h.node.AcceptForward(ctx, h.sender(ctx), it)
	if err != nil {
		return nil, err
	}
	return genserver.ForwardItem200JSONResponse{Outcome: gen.ForwardResultOutcome(out)}, nil
}

func (h *handlers) ListBlocks(ctx context.Context, req genserver.ListBlocksRequestObject) (genserver.ListBlocksResponseObject, error) {
	before, limit := int64(0), 100
	if req.Params.Before != nil {
		before = *req.Params.Before
	}
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	if before < 0 {
		return nil, fmt.Errorf("%w: before must not be negative", problem.ErrBadRequest)
	}
	bs, count, err := h.node.RecentBlocks(ctx, before, limit)
	if err != nil {
		return nil, err
	}
	cid, _, err := h.node.BlockHeads(ctx)
	if err != nil {
		return nil, err
	}
	out := genserver.ListBlocks200JSONResponse{ClusterId: cid, Count: count, Blocks: make([]gen.BlockSummary, len(bs))}
	for i, sb := range bs {
		out.Blocks[i] = blockSummary(sb.Block, sb.Arrival)
	}
	return out, nil
}

func (h *handlers) MergeBlocks(ctx context.Context, req genserver.MergeBlocksRequestObject) (genserver.MergeBlocksResponseObject, error) {
	if req.Body == nil || (req.Body.Blocks == nil) == (req.Body.Source == nil) {
		return nil, fmt.Errorf("%w: give either blocks or source", problem.ErrBadRequest)
	}
	if req.Body.Source != nil {
		added, pulled, err := h.node.MergeFrom(ctx, *req.Body.Source)
		if err != nil {
			return nil, err
		}
		return genserver.MergeBlocks200JSONResponse{Added: added, Offered: pulled}, nil
	}
	bs := make([]ledger.Block, len(*req.Body.Blocks))
	for i, b := range *req.Body.Blocks {
		blk, err := blockFrom(b)
		if err != nil {
			return nil, fmt.Errorf("block %d of %d: %w", i+1, len(bs), err)
		}
		bs[i] = blk
	}
	n, err := h.node.MergeBlocks(ctx, bs)
	if err != nil {
		return nil, err
	}
	return genserver.MergeBlocks200JSONResponse{Added: n, Offered: len(bs)}, nil
}

func (h *handlers) SealBlock(ctx context.Context, _ genserver.SealBlockRequestObject) (genserver.SealBlockResponseObject, error) {
	b, ok, err := h.node.SealBlock(ctx)
	if err != nil {
		return nil, err
	}
	out := genserver.SealBlock200JSONResponse{Sealed: ok}
	if ok {
		s := blockSummary(b, 0)
		out.Block = &s
	}
	return out, nil
}

func (h *handlers) ListOutbox(ctx context.Context, req genserver.ListOutboxRequestObject) (genserver.ListOutboxResponseObject, error) {
	limit := 100
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	items, err := h.node.Outbox(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := genserver.ListOutbox200JSONResponse{Items: make([]gen.OutboxItem, len(items))}
	for i, it := range items {
		out.Items[i] = gen.OutboxItem{Dest: string(it.Dest), Kind: it.Kind, Bytes: it.Bytes, Origin: string(it.Origin), Expires: it.Expires, Carriers: it.Carriers}
	}
	return out, nil
}
