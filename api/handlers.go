package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	offgrid "github.com/offgrid-net/offgrid"
	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// Config configures the API.
type Config struct {
	// Node is the engine the API serves. Required.
	Node *node.Node
	// Logger receives request errors. Default: discard.
	Logger *slog.Logger
	// Gatherer provides the metrics served at /metrics. Default: none.
	Gatherer prometheus.Gatherer
	// OwnHost reports whether a Host (with its port) names this node; a
	// node signature made for any other host is refused. Required.
	OwnHost func(hostport string) bool
	// Logins is the back-off table for wrong admin tokens, shared with the
	// dashboard's login. Default: a table of its own.
	Logins *backoff.Limiter
}

// Register adds the API's routes, guarded by spec validation and
// authentication, to r.
func Register(r chi.Router, cfg Config) error {
	if cfg.Node == nil || cfg.OwnHost == nil {
		return fmt.Errorf("api: node and own host check are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	if cfg.Logins == nil {
		cfg.Logins = backoff.New(backoff.DefaultMaxAddresses, time.Now)
	}
	g, err := newGuard(cfg.Node, cfg.OwnHost, cfg.Logins, cfg.Logger)
	if err != nil {
		return err
	}
	h := &handlers{node: cfg.Node, gatherer: cfg.Gatherer, spec: offgrid.OpenAPI, log: cfg.Logger}
	onErr := func(w http.ResponseWriter, r *http.Request, err error) { problem.Write(cfg.Logger, w, r, err) }
	onBadRequest := func(w http.ResponseWriter, r *http.Request, err error) {
		problem.Write(cfg.Logger, w, r, fmt.Errorf("%w: %v", problem.ErrBadRequest, err))
	}
	strict := genserver.NewStrictHandlerWithOptions(h, nil, genserver.StrictHTTPServerOptions{
		RequestErrorHandlerFunc:  onBadRequest,
		ResponseErrorHandlerFunc: onErr,
	})
	r.Group(func(r chi.Router) {
		r.Use(g.middleware)
		genserver.HandlerWithOptions(strict, genserver.ChiServerOptions{BaseRouter: r, ErrorHandlerFunc: onBadRequest})
	})
	return nil
}

// handlers implements the generated strict server by calling the node.
type handlers struct {
	node     *node.Node
	gatherer prometheus.Gatherer
	spec     []byte
	log      *slog.Logger
}

var _ genserver.StrictServerInterface = (*handlers)(nil)

func (h *handlers) GetHealth(ctx context.Context, _ genserver.GetHealthRequestObject) (genserver.GetHealthResponseObject, error) {
	info := h.node.Info()
	st := h.node.Health(ctx)
	body := gen.Health{
		Status:        gen.HealthStatusOk,
		NodeId:        string(info.ID),
		Name:          info.Name,
		UptimeSeconds: int64(time.Since(info.Started).Seconds()),
		Disk:          gen.DiskHealth{Ok: st.DiskOK(), FreeBytes: st.DiskFreeBytes, MinFreeBytes: st.MinFreeBytes, Error: errText(st.DiskErr)},
		Database: gen.DatabaseHealth{Ok: st.DBErr == nil, OpenConnections: int32(st.DBOpen), InUse: int32(st.DBInUse),
			Error: errText(st.DBErr)},
	}
	if st.OK() {
		return genserver.GetHealth200JSONResponse(body), nil
	}
	body.Status = gen.HealthStatusUnhealthy
	retry := int32(problem.RetryAfterSeconds)
	return genserver.GetHealth503JSONResponse{Body: body, Headers: genserver.GetHealth503ResponseHeaders{RetryAfter: &retry}}, nil
}

// errText is err's text for an optional field of at most 1024 bytes (the
// spec's bound), nil for no error.
func errText(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	if len(s) > 1024 {
		s = s[:1024]
	}
	return &s
}

func (h *handlers) GetAnnounce(ctx context.Context, _ genserver.GetAnnounceRequestObject) (genserver.GetAnnounceResponseObject, error) {
	a, err := h.node.Announce(ctx)
	if err != nil {
		return nil, err
	}
	return genserver.GetAnnounce200JSONResponse(announceDTO(a)), nil
}

func (h *handlers) UpdateAnnounce(ctx context.Context, req genserver.UpdateAnnounceRequestObject) (genserver.UpdateAnnounceResponseObject, error) {
	u := node.AnnounceUpdate{MinOncallPercent: req.Body.MinOncallPercent, BurstPercentMax: req.Body.BurstPercentMax}
	if p := req.Body.Prices; p != nil {
		var err error
		if u.ComputePrice, err = parseDecimalPtr("prices.compute", p.Compute); err != nil {
			return nil, err
		}
		if u.StoragePrice, err = parseDecimalPtr("prices.storage", p.Storage); err != nil {
			return nil, err
		}
	}
	a, err := h.node.UpdateAnnounce(ctx, u)
	if err != nil {
		return nil, err
	}
	return genserver.UpdateAnnounce200JSONResponse(announceDTO(a)), nil
}

func (h *handlers) Toggle(ctx context.Context, req genserver.ToggleRequestObject) (genserver.ToggleResponseObject, error) {
	a, err := h.node.SetActive(ctx, req.Body.Active)
	if err != nil {
		return nil, err
	}
	return genserver.Toggle200JSONResponse(announceDTO(a)), nil
}

func (h *handlers) GetQuote(ctx context.Context, req genserver.GetQuoteRequestObject) (genserver.GetQuoteResponseObject, error) {
	size, err := parseDecimal("size", req.Params.Size)
	if err != nil {
		return nil, err
	}
	q, err := h.node.Quote(ctx, string(req.Params.Type), size)
	if err != nil {
		return nil, err
	}
	return genserver.GetQuote200JSONResponse{
		NodeId:    string(q.NodeID),
		Type:      gen.QuoteType(q.Type),
		Size:      fixed.Format(q.Size),
		UnitPrice: fixed.Format(q.UnitPrice),
		Price:     fixed.Format(q.Price),
	}, nil
}

func (h *handlers) RunJob(ctx context.Context, req genserver.RunJobRequestObject) (genserver.RunJobResponseObject, error) {
	run := node.RunRequest{JobID: req.Body.JobId}
	if req.Body.Metrics != nil {
		run.Metrics = *req.Body.Metrics
	}
	rc, err := h.runJob(ctx, run, req.Body.Host)
	if err != nil {
		return nil, err
	}
	return genserver.RunJob200JSONResponse{Status: gen.RunResultStatusOk, Receipt: receiptDTO(rc)}, nil
}

func (h *handlers) ExportReceipts(ctx context.Context, req genserver.ExportReceiptsRequestObject) (genserver.ExportReceiptsResponseObject, error) {
	since, limit := int64(0), 1000
	if req.Params.SinceSeq != nil {
		since = *req.Params.SinceSeq
	}
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	if since < 0 {
		return nil, fmt.Errorf("%w: since_seq must not be negative", problem.ErrBadRequest)
	}
	b, err := h.node.ExportReceipts(ctx, uint64(since), limit)
	if err != nil {
		return nil, err
	}
	out := genserver.ExportReceipts200JSONResponse{
		Version: gen.BatchVersion(b.Version),
		NodeId:  string(b.NodeID),
		Root:    b.Root,
		Size:    b.Size,
		FromSeq: int64(b.FromSeq),
		ToSeq:   int64(b.ToSeq),
		Items:   make([]gen.BatchItem, 0, len(b.Items)),
	}
	for _, it := range b.Items {
		proof := it.Proof
		if proof == nil {
			proof = []string{}
		}
		out.Items = append(out.Items, gen.BatchItem{Receipt: receiptDTO(it.Receipt), LeafIndex: it.LeafIndex, Proof: proof})
	}
	return out, nil
}

func (h *handlers) GetPubkeys(ctx context.Context, _ genserver.GetPubkeysRequestObject) (genserver.GetPubkeysResponseObject, error) {
	info := h.node.Info()
	return genserver.GetPubkeys200JSONResponse{NodeId: string(info.ID), Name: info.Name, VerifyKey: info.VerifyKey, BoxKey: info.BoxKey}, nil
}

func (h *handlers) GetMesh(ctx context.Context, _ genserver.GetMeshRequestObject) (genserver.GetMeshResponseObject, error) {
	m, err := h.node.Mesh(ctx)
	if err != nil {
		return nil, err
	}
	out := genserver.GetMesh200JSONResponse{
		Source:    gen.MeshSource(m.Source),
		Proto:     m.Proto,
		Neighbors: []gen.MeshNeighbor{},
		Routes:    []gen.MeshRoute{},
		ReadAt:    &m.ReadAt,
	}
	out.Health.MeshOk = m.MeshOK
	out.Health.InterfacesUp = m.InterfacesUp
	for _, nb := range m.Neighbors {
		out.Neighbors = append(out.Neighbors, gen.MeshNeighbor{Address: nb.Address, Iface: &nb.Iface, Metric: &nb.Metric})
	}
	for _, r := range m.Routes {
		out.Routes = append(out.Routes, gen.MeshRoute{Destination: r.Destination, Via: &r.Via, Metric: &r.Metric})
	}
	return out, nil
}

func (h *handlers) GetPeers(ctx context.Context, _ genserver.GetPeersRequestObject) (genserver.GetPeersResponseObject, error) {
	ps, err := h.node.Peers(ctx)
	if err != nil {
		return nil, err
	}
	mesh, err := h.node.Mesh(ctx)
	if err != nil {
		return nil, err
	}
	out := genserver.GetPeers200JSONResponse{Peers: make([]gen.Peer, 0, len(ps)), MeshOk: mesh.MeshOK, Neighbors: len(mesh.Neighbors)}
	for _, p := range ps {
		neighbor := p.MeshNeighbor
		dto := gen.Peer{Endpoint: p.Endpoint, Via: p.Via, State: gen.PeerState(p.State), Active: p.Active, MeshNeighbor: &neighbor}
		if p.PathMetric >= 0 {
			metric := p.PathMetric
			dto.PathMetric = &metric
		}
		if p.ID != "" {
			id, name := string(p.ID), p.Name
			dto.NodeId, dto.Name = &id, &name
		}
		if !p.LastSeen.IsZero() {
			seen := p.LastSeen
			dto.LastSeen = &seen
		}
		out.Peers = append(out.Peers, dto)
	}
	return out, nil
}

func (h *handlers) StoreShard(ctx context.Context, req genserver.StoreShardRequestObject) (genserver.StoreShardResponseObject, error) {
	want := ""
	if req.Body.Hash != nil {
		want = *req.Body.Hash
	}
	sh, err := h.node.StoreShard(ctx, req.Body.AssetId, req.Body.Index, bytes.NewReader(req.Body.DataB64), want, callerName(ctx))
	if err != nil {
		return nil, err
	}
	return genserver.StoreShard201JSONResponse(shardDTO(sh)), nil
}

func (h *handlers) FetchShard(ctx context.Context, req genserver.FetchShardRequestObject) (genserver.FetchShardResponseObject, error) {
	rc, sh, err := h.node.OpenShard(ctx, req.Params.AssetId, req.Params.Index, callerName(ctx))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read shard: %w", err)
	}
	return genserver.FetchShard200JSONResponse{
		AssetId: sh.AssetID, Index: sh.Index, Size: sh.Size, Hash: sh.Hash, DataB64: data,
	}, nil
}

func (h *handlers) PutShard(ctx context.Context, req genserver.PutShardRequestObject) (genserver.PutShardResponseObject, error) {
	want := ""
	if req.Params.OffgridShardHash != nil {
		want = *req.Params.OffgridShardHash
	}
	store := h.node.StoreShard
	if c, _ := CallerFrom(ctx); c.Digest != "" {
		// A signed upload commits to its body's hash: it is the shard hash,
		// and a body that does not match it fails the signature, not just
		// the hash.
		if want != "" && want != c.Digest {
			return nil, fmt.Errorf("%w: Offgrid-Shard-Hash differs from the signed body digest", problem.ErrBadRequest)
		}
		want, store = c.Digest, h.node.StoreSignedShard
	}
	sh, err := store(ctx, req.AssetId, req.Index, req.Body, want, callerName(ctx))
	if err != nil {
		return nil, err
	}
	return genserver.PutShard201JSONResponse(shardDTO(sh)), nil
}

func (h *handlers) GetShard(ctx context.Context, req genserver.GetShardRequestObject) (genserver.GetShardResponseObject, error) {
	rc, sh, err := h.node.OpenShard(ctx, req.AssetId, req.Index, callerName(ctx))
	if err != nil {
		return nil, err
	}
	hash := sh.Hash
	// The generated response closes rc once it is written.
	return genserver.GetShard200ApplicationoctetStreamResponse{
		Body:          rc,
		ContentLength: sh.Size,
		Headers:       genserver.GetShard200ResponseHeaders{OffgridShardHash: &hash},
	}, nil
}

func (h *handlers) GetMetrics(ctx context.Context, _ genserver.GetMetricsRequestObject) (genserver.GetMetricsResponseObject, error) {
	mfs, err := h.gatherer.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encode metrics: %w", err)
		}
	}
	return genserver.GetMetrics200TextResponse(buf.String()), nil
}

func (h *handlers) GetOpenAPI(ctx context.Context, _ genserver.GetOpenAPIRequestObject) (genserver.GetOpenAPIResponseObject, error) {
	return genserver.GetOpenAPI200ApplicationyamlResponse{Body: bytes.NewReader(h.spec), ContentLength: int64(len(h.spec))}, nil
}

func callerName(ctx context.Context) string {
	if c, ok := CallerFrom(ctx); ok {
		return c.String()
	}
	return "unknown"
}

func parseDecimal(field, s string) (int64, error) {
	v, err := fixed.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", problem.ErrBadRequest, field, err)
	}
	return v, nil
}

func parseDecimalPtr(field string, s *string) (*int64, error) {
	if s == nil {
		return nil, nil
	}
	v, err := parseDecimal(field, *s)
	return &v, err
}

func announceDTO(a node.Announce) gen.Announce {
	return gen.Announce{
		NodeId:           string(a.NodeID),
		Name:             a.Name,
		Endpoint:         a.Endpoint,
		Active:           a.Active,
		Prices:           gen.Prices{Compute: fixed.Format(a.Prices.Compute), Storage: fixed.Format(a.Prices.Storage)},
		MinOncallPercent: a.MinOncallPercent,
		BurstPercentMax:  a.BurstPercentMax,
		UpdatedAt:        a.UpdatedAt,
	}
}

func receiptDTO(r ledger.Receipt) gen.Receipt {
	metrics, proofs, cids := r.Metrics, r.Proofs, r.CIDs
	if metrics == nil {
		metrics = map[string]float64{}
	}
	if proofs == nil {
		proofs = []string{}
	}
	if cids == nil {
		cids = []string{}
	}
	return gen.Receipt{
		Version:      gen.ReceiptVersion(r.Version),
		ClusterId:    r.ClusterID,
		ResourceType: gen.ReceiptResourceType(r.ResourceType),
		JobId:        r.JobID,
		Units:        fixed.Format(r.Units),
		Metrics:      metrics,
		Proofs:       proofs,
		Cids:         cids,
		Seq:          int64(r.Seq),
		IssuedAt:     r.IssuedAt,
		NodeId:       string(r.NodeID),
		VerifyKey:    r.VerifyKey,
		Signature:    r.Signature,
		ConsumerId:   receiptConsumer(r),
		UnitPrice:    receiptPrice(r),
		Acceptance:   optional(r.Acceptance),
	}
}

func shardDTO(sh node.Shard) gen.Shard {
	return gen.Shard{AssetId: sh.AssetID, Index: sh.Index, Size: sh.Size, Hash: sh.Hash}
}
