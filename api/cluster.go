package api

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node"
)

func clusterDTO(d cluster.Document) (gen.ClusterDocument, error) {
	enc, err := d.Encode()
	if err != nil {
		return gen.ClusterDocument{}, err
	}
	out := gen.ClusterDocument{
		ClusterId: d.ID.String(),
		Serial:    int64(d.Serial),
		Threshold: d.Threshold,
		Admins:    nodeIDs(d.Admins),
		Members:   []gen.ClusterMember{},
		Revoked:   nodeIDs(d.Revoked),
		Signers:   []gen.NodeID{},
		Missing:   node.MissingSignatures(d),
		Document:  base64.StdEncoding.EncodeToString(enc),
	}
	for _, m := range d.Members {
		out.Members = append(out.Members, gen.ClusterMember{NodeId: string(m.ID), Name: m.Name})
	}
	for _, s := range d.Signatures {
		out.Signers = append(out.Signers, string(s.Signer))
	}
	if e := d.Economy; e.Enabled() {
		ce := gen.ClusterEconomy{Epoch: int64(e.Epoch), FeeMin: fixed.Format(e.TxFeeMin), FeeMax: fixed.Format(e.TxFeeMax),
			HostReserveBp: int(e.HostReserveBP), Witnesses: []gen.WitnessWeight{}, Genesis: []gen.Allocation{}}
		for _, w := range e.Witnesses {
			ce.Witnesses = append(ce.Witnesses, gen.WitnessWeight{NodeId: string(w.ID), Weight: int64(w.Weight)})
		}
		for _, a := range e.Genesis {
			ce.Genesis = append(ce.Genesis, gen.Allocation{NodeId: string(a.ID), Amount: fixed.Format(a.Amount)})
		}
		out.Economy = &ce
	}
	return out, nil
}

func nodeIDs(ids []identity.NodeID) []gen.NodeID {
	out := make([]gen.NodeID, 0, len(ids))
	for _, id := range ids {
		out = append(out, string(id))
	}
	return out
}

// economyOf reads the economy of a cluster init (none without witnesses).
func economyOf(b *gen.ClusterInit) (cluster.Economy, error) {
	var e cluster.Economy
	if b.Witnesses == nil || len(*b.Witnesses) == 0 {
		if b.Allocs != nil || b.FeeMin != nil || b.FeeMax != nil || b.HostReserveBp != nil {
			return e, fmt.Errorf("%w: allocations, fees and host reserve need witnesses", node.ErrInvalid)
		}
		return e, nil
	}
	for _, w := range *b.Witnesses {
		e.Witnesses = append(e.Witnesses, cluster.Witness{ID: identity.NodeID(w.NodeId), Weight: uint64(w.Weight)})
	}
	if b.Allocs != nil {
		for i, a := range *b.Allocs {
			v, err := parseDecimal(fmt.Sprintf("allocs[%d].amount", i), a.Amount)
			if err != nil {
				return e, err
			}
			e.Genesis = append(e.Genesis, cluster.Alloc{ID: identity.NodeID(a.NodeId), Amount: v})
		}
	}
	var err error
	if b.FeeMin != nil {
		if e.TxFeeMin, err = parseDecimal("fee_min", *b.FeeMin); err != nil {
			return e, err
		}
	}
	if b.FeeMax != nil {
		if e.TxFeeMax, err = parseDecimal("fee_max", *b.FeeMax); err != nil {
			return e, err
		}
	}
	e.HostReserveBP = cluster.DefaultHostReserveBP
	if b.HostReserveBp != nil {
		e.HostReserveBP = uint16(*b.HostReserveBp)
	}
	return e, nil
}

// decodeDocument returns the bytes of a base64 document field.
func decodeDocument(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: document is not base64", node.ErrInvalid)
	}
	return b, nil
}

func (h *handlers) GetCluster(ctx context.Context, _ genserver.GetClusterRequestObject) (genserver.GetClusterResponseObject, error) {
	var out genserver.GetCluster200JSONResponse
	d, ok := h.node.Cluster()
	out.Alone = !ok
	if ok {
		dto, err := clusterDTO(d)
		if err != nil {
			return nil, err
		}
		out.Cluster = &dto
	}
	if p, ok := h.node.ClusterProposal(); ok {
		dto, err := clusterDTO(p)
		if err != nil {
			return nil, err
		}
		out.Proposal = &dto
	}
	return out, nil
}

// changed answers a cluster change: 200 with the installed document, or
// 202 with the proposal that needs more admins.
func changed(d cluster.Document, complete bool, err error) (installed *genserver.ClusterInstalledJSONResponse, proposed *genserver.ClusterProposedJSONResponse, _ error) {
	if err != nil {
		return nil, nil, err
	}
	dto, err := clusterDTO(d)
	if err != nil {
		return nil, nil, err
	}
	if complete {
		r := genserver.ClusterInstalledJSONResponse(dto)
		return &r, nil, nil
	}
	r := genserver.ClusterProposedJSONResponse(dto)
	return nil, &r, nil
}

func (h *handlers) InitCluster(ctx context.Context, req genserver.InitClusterRequestObject) (genserver.InitClusterResponseObject, error) {
	var admins []identity.NodeID
	if req.Body.Admins != nil {
		for _, a := range *req.Body.Admins {
			admins = append(admins, identity.NodeID(a))
		}
	}
	threshold := 0
	if req.Body.Threshold != nil {
		threshold = int(*req.Body.Threshold)
	}
	e, err := economyOf(req.Body)
	if err != nil {
		return nil, err
	}
	ok, prop, err := changed(h.node.InitClusterEconomy(ctx, admins, threshold, e))
	switch {
	case err != nil:
		return nil, err
	case ok != nil:
		return genserver.InitCluster200JSONResponse{ClusterInstalledJSONResponse: *ok}, nil
	}
	return genserver.InitCluster202JSONResponse{ClusterProposedJSONResponse: *prop}, nil
}

func (h *handlers) AdmitNode(ctx context.Context, req genserver.AdmitNodeRequestObject) (genserver.AdmitNodeResponseObject, error) {
	id := identity.NodeID(req.Body.NodeId)
	name := ""
	if req.Body.Name != nil {
		name = *req.Body.Name
	}
	ok, prop, err := changed(h.node.AdmitNode(ctx, id, name))
	switch {
	case err != nil:
		return nil, err
	case ok != nil:
		return genserver.AdmitNode200JSONResponse{ClusterInstalledJSONResponse: *ok}, nil
	}
	return genserver.AdmitNode202JSONResponse{ClusterProposedJSONResponse: *prop}, nil
}

func (h *handlers) RevokeNode(ctx context.Context, req genserver.RevokeNodeRequestObject) (genserver.RevokeNodeResponseObject, error) {
	ok, prop, err := changed(h.node.RevokeNode(ctx, identity.NodeID(req.Body.NodeId)))
	switch {
	case err != nil:
		return nil, err
	case ok != nil:
		return genserver.RevokeNode200JSONResponse{ClusterInstalledJSONResponse: *ok}, nil
	}
	return genserver.RevokeNode202JSONResponse{ClusterProposedJSONResponse: *prop}, nil
}

func (h *handlers) SignCluster(ctx context.Context, req genserver.SignClusterRequestObject) (genserver.SignClusterResponseObject, error) {
	b, err := decodeDocument(req.Body.Document)
	if err != nil {
		return nil, err
	}
	ok, prop, err := changed(h.node.SignCluster(ctx, b))
	switch {
	case err != nil:
		return nil, err
	case ok != nil:
		return genserver.SignCluster200JSONResponse{ClusterInstalledJSONResponse: *ok}, nil
	}
	return genserver.SignCluster202JSONResponse{ClusterProposedJSONResponse: *prop}, nil
}

func (h *handlers) JoinCluster(ctx context.Context, req genserver.JoinClusterRequestObject) (genserver.JoinClusterResponseObject, error) {
	b, err := decodeDocument(req.Body.Document)
	if err != nil {
		return nil, err
	}
	d, err := h.node.JoinCluster(ctx, b)
	ok, _, err := changed(d, true, err)
	if err != nil {
		return nil, err
	}
	return genserver.JoinCluster200JSONResponse{ClusterInstalledJSONResponse: *ok}, nil
}

func (h *handlers) GetPendingNodes(ctx context.Context, _ genserver.GetPendingNodesRequestObject) (genserver.GetPendingNodesResponseObject, error) {
	out := genserver.GetPendingNodes200JSONResponse{Pending: []gen.PendingNode{}}
	for _, p := range h.node.PendingNodes() {
		out.Pending = append(out.Pending, gen.PendingNode{NodeId: string(p.ID), Name: p.Name, Endpoint: p.Endpoint,
			Via: p.Via, FirstSeen: p.FirstSeen, LastSeen: p.LastSeen})
	}
	return out, nil
}
