package api

import (
	"context"
	"time"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
)

func quorumDTO(st node.QuorumStatus) gen.QuorumStatus {
	out := gen.QuorumStatus{Kind: gen.QuorumKind(st.Kind), Id: st.ID, Required: st.Required, Weight: st.Weight,
		Reached: st.Reached, Created: st.Created, Acks: make([]gen.QuorumAckEntry, len(st.Acks))}
	for i, a := range st.Acks {
		out.Acks[i] = gen.QuorumAckEntry{Node: a.Node, At: a.At, Weight: a.Weight}
	}
	return out
}

func policyDTO(p node.QuorumPolicy) gen.QuorumPolicy {
	var out gen.QuorumPolicy
	out.DefaultWeight, out.Weights = p.DefaultWeight, p.Weights
	dec := func(k node.QuorumKind) gen.QuorumDecay {
		d := p.Decay[k]
		return gen.QuorumDecay{HalfLifeSeconds: int64(d.HalfLife / time.Second), MaxAgeSeconds: int64(d.MaxAge / time.Second)}
	}
	out.Decay.Upload, out.Decay.Job, out.Decay.Token = dec("upload"), dec("job"), dec("token")
	return out
}

func (h *handlers) ListQuorums(ctx context.Context, req genserver.ListQuorumsRequestObject) (genserver.ListQuorumsResponseObject, error) {
	limit := 100
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	l, err := h.node.Quorums(ctx, node.QuorumKind(req.Params.Kind), limit)
	if err != nil {
		return nil, err
	}
	out := genserver.ListQuorums200JSONResponse{Quorums: make([]gen.QuorumStatus, len(l))}
	for i, st := range l {
		out.Quorums[i] = quorumDTO(st)
	}
	return out, nil
}

func (h *handlers) CreateQuorum(ctx context.Context, req genserver.CreateQuorumRequestObject) (genserver.CreateQuorumResponseObject, error) {
	st, err := h.node.CreateQuorum(ctx, node.QuorumKind(req.Body.Kind), req.Body.Id, req.Body.Required)
	if err != nil {
		return nil, err
	}
	return genserver.CreateQuorum200JSONResponse(quorumDTO(st)), nil
}

func (h *handlers) GetQuorum(ctx context.Context, req genserver.GetQuorumRequestObject) (genserver.GetQuorumResponseObject, error) {
	st, err := h.node.Quorum(ctx, node.QuorumKind(req.Kind), req.Id)
	if err != nil {
		return nil, err
	}
	return genserver.GetQuorum200JSONResponse(quorumDTO(st)), nil
}

func (h *handlers) AckQuorum(ctx context.Context, req genserver.AckQuorumRequestObject) (genserver.AckQuorumResponseObject, error) {
	// A signed ack is its signer's: a node cannot ack for another.
	from := h.sender(ctx)
	if c, ok := CallerFrom(ctx); ok && c.Admin && req.Body != nil && req.Body.Node != nil {
		from = identity.NodeID(*req.Body.Node)
	}
	st, err := h.node.AckQuorum(ctx, node.QuorumKind(req.Kind), req.Id, from)
	if err != nil {
		return nil, err
	}
	return genserver.AckQuorum200JSONResponse(quorumDTO(st)), nil
}

func (h *handlers) GetQuorumPolicy(ctx context.Context, _ genserver.GetQuorumPolicyRequestObject) (genserver.GetQuorumPolicyResponseObject, error) {
	return genserver.GetQuorumPolicy200JSONResponse(policyDTO(h.node.QuorumPolicy())), nil
}

func (h *handlers) SetQuorumPolicy(ctx context.Context, req genserver.SetQuorumPolicyRequestObject) (genserver.SetQuorumPolicyResponseObject, error) {
	b := req.Body
	dec := func(d gen.QuorumDecay) node.QuorumDecay {
		return node.QuorumDecay{HalfLife: time.Duration(d.HalfLifeSeconds) * time.Second, MaxAge: time.Duration(d.MaxAgeSeconds) * time.Second}
	}
	p := node.QuorumPolicy{DefaultWeight: b.DefaultWeight, Weights: b.Weights, Decay: map[node.QuorumKind]node.QuorumDecay{
		"upload": dec(b.Decay.Upload), "job": dec(b.Decay.Job), "token": dec(b.Decay.Token),
	}}
	if err := h.node.SetQuorumPolicy(ctx, p); err != nil {
		return nil, err
	}
	return genserver.SetQuorumPolicy200JSONResponse(policyDTO(h.node.QuorumPolicy())), nil
}
