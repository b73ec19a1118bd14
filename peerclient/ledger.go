package peerclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/ledgersync"
)

// maxBlocksAnswer bounds a page of blocks read from a peer (a page holds
// at most ledgersync.MaxPage blocks; most are small).
const maxBlocksAnswer = 64 << 20

// Ledger syncs blocks and forwards outbox items through the generated
// client, signing every request with the node's key. It is safe for
// concurrent use.
type Ledger struct {
	doer   gen.HttpRequestDoer
	signer *identity.RequestSigner
}

var _ ledgersync.Remote = (*Ledger)(nil)

// NewLedger returns the block and outbox transport over doer.
func NewLedger(doer gen.HttpRequestDoer, signer *identity.RequestSigner) *Ledger {
	return &Ledger{doer: doer, signer: signer}
}

func (l *Ledger) client(endpoint string, body []byte) (*gen.Client, error) {
	return signedClient(l.doer, l.signer, endpoint, identity.BodyDigest(body))
}

// read returns the body of an answer with status want, at most limit
// bytes; another status is an error quoting the problem's start, wrapping
// ledgersync.ErrRefused for a 4xx that retrying cannot fix.
func read(resp *http.Response, err error, want, limit int) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		detail := strings.TrimSpace(string(body))
		if len(detail) > 300 {
			detail = detail[:300]
		}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
			return nil, fmt.Errorf("%w: status %d: %s", ledgersync.ErrRefused, resp.StatusCode, detail)
		}
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, detail)
	}
	if len(body) > limit {
		return nil, fmt.Errorf("answer over %d bytes", limit)
	}
	return body, nil
}

type headsAnswer struct {
	ClusterID string            `json:"cluster_id"`
	Heads     []gen.BlockHead   `json:"heads"`
	Blocks    []json.RawMessage `json:"blocks"`
}

func (l *Ledger) heads(ctx context.Context, endpoint string, params *gen.GossipBlocksParams) (headsAnswer, error) {
	c, err := l.client(endpoint, nil)
	if err != nil {
		return headsAnswer{}, err
	}
	resp, err := c.GossipBlocks(ctx, params)
	body, err := read(resp, err, http.StatusOK, maxBlocksAnswer)
	if err != nil {
		return headsAnswer{}, fmt.Errorf("blocks of %s: %w", endpoint, err)
	}
	var a headsAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return headsAnswer{}, fmt.Errorf("blocks of %s: %w", endpoint, err)
	}
	return a, nil
}

// Heads implements ledgersync.Remote.
func (l *Ledger) Heads(ctx context.Context, endpoint string) (ledgersync.Heads, error) {
	a, err := l.heads(ctx, endpoint, &gen.GossipBlocksParams{})
	if err != nil {
		return ledgersync.Heads{}, err
	}
	out := ledgersync.Heads{ClusterID: a.ClusterID, Heads: make([]ledger.Head, len(a.Heads))}
	for i, h := range a.Heads {
		name, err := ledger.ParseBlockName(h.Name)
		if err != nil || h.Height < 1 {
			return ledgersync.Heads{}, fmt.Errorf("blocks of %s: head %d: bad name or height", endpoint, i)
		}
		out.Heads[i] = ledger.Head{Author: identity.NodeID(h.Author), Height: uint64(h.Height), Name: name}
	}
	return out, nil
}

// Blocks implements ledgersync.Remote.
func (l *Ledger) Blocks(ctx context.Context, endpoint string, author identity.NodeID, after uint64, limit int) ([]ledger.Block, error) {
	a, err := l.heads(ctx, endpoint, &gen.GossipBlocksParams{Author: ptr(string(author)), After: ptr(int64(after)), Limit: &limit})
	if err != nil {
		return nil, err
	}
	if len(a.Blocks) > limit {
		return nil, fmt.Errorf("blocks of %s: %d blocks for a limit of %d", endpoint, len(a.Blocks), limit)
	}
	out := make([]ledger.Block, len(a.Blocks))
	for i, raw := range a.Blocks {
		if out[i], err = ledger.DecodeBlock(raw); err != nil {
			return nil, fmt.Errorf("blocks of %s: block %d: %w", endpoint, i, err)
		}
	}
	return out, nil
}

// Block implements ledgersync.Remote.
func (l *Ledger) Block(ctx context.Context, endpoint string, name ledger.BlockName) (ledger.Block, error) {
	c, err := l.client(endpoint, nil)
	if err != nil {
		return ledger.Block{}, err
	}
	resp, err := c.GossipBlock(ctx, &gen.GossipBlockParams{Name: name.String()})
	body, err := read(resp, err, http.StatusOK, ledger.MaxBlockJSON)
	if err != nil {
		return ledger.Block{}, fmt.Errorf("block %s from %s: %w", name, endpoint, err)
	}
	return ledger.DecodeBlock(body)
}

// AppendBlock implements ledgersync.Remote.
func (l *Ledger) AppendBlock(ctx context.Context, endpoint string, b ledger.Block) error {
	js, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode block: %w", err)
	}
	c, err := l.client(endpoint, js)
	if err != nil {
		return err
	}
	resp, err := c.AppendBlockWithBody(ctx, "application/json", bytes.NewReader(js))
	if _, err := read(resp, err, http.StatusOK, 4<<10); err != nil {
		return fmt.Errorf("push block to %s: %w", endpoint, err)
	}
	return nil
}

// Forward implements ledgersync.Remote.
func (l *Ledger) Forward(ctx context.Context, endpoint string, it ledgersync.Item) (ledgersync.Outcome, error) {
	secs := int64(it.TTL.Seconds())
	if secs < 1 {
		secs = 1
	}
	js, err := json.Marshal(gen.ForwardItem{Dest: string(it.Dest), Kind: it.Kind, Payload: it.Payload, TtlSeconds: secs})
	if err != nil {
		return "", fmt.Errorf("encode item: %w", err)
	}
	c, err := l.client(endpoint, js)
	if err != nil {
		return "", err
	}
	resp, err := c.ForwardItemWithBody(ctx, "application/json", bytes.NewReader(js))
	body, err := read(resp, err, http.StatusOK, 4<<10)
	if err != nil {
		return "", fmt.Errorf("forward %s item to %s: %w", it.Kind, endpoint, err)
	}
	var r gen.ForwardResult
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("forward %s item to %s: %w", it.Kind, endpoint, err)
	}
	return ledgersync.Outcome(r.Outcome), nil
}

func ptr[T any](v T) *T { return &v }
