package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// maxShareForm bounds the share form: one node ID.
const maxShareForm = 4 << 10

// sharePeer is a node the file page offers to share a file with.
type sharePeer struct {
	ID    string
	Label string
}

// sharePeers are the peers a file can be shared with: every peer table
// row with a node ID (the table holds cluster members only), not this
// node.
func sharePeers(peers []node.Peer, self string) []sharePeer {
	var out []sharePeer
	for _, p := range peers {
		if p.ID == "" || string(p.ID) == self {
			continue
		}
		out = append(out, sharePeer{ID: string(p.ID), Label: peerLabel(p) + " (" + peerStatusOf(p).Label + ")"})
	}
	return out
}

// shareAsset answers the file page's "Share with a node" form: the signed
// share manifest for the picked peer, as the download NAME.share.json. The
// peer's X25519 key is read from its GET /pubkeys, as `offgrid share`
// does, and its node ID checked. A refusal shows the file page again with
// the reason.
func (h *Handler) shareAsset(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !validAssetID(id) {
		h.fileMissing(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxShareForm)
	to := r.PostFormValue("to")
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	v, err := h.fileViewFor(ctx, id, 1)
	if errors.Is(err, node.ErrNotFound) {
		h.fileMissing(w, r)
		return
	}
	if err != nil {
		h.log.Error("Read stored file to share it", "id", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	manifest, status, msg := h.makeShare(ctx, id, to)
	if msg != "" {
		v.ShareErr = msg
		h.renderPage(w, r, status, orDash(v.Asset.Name), navStorage, fileBody(v))
		return
	}
	h.log.Info("File shared from dashboard", "id", id, "to", to)
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Disposition", contentDisposition(shareFileName(v.Asset.Name, id), id))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(manifest)
}

// makeShare returns the share manifest of file id for the peer to, or the
// status and sentence of a refusal.
func (h *Handler) makeShare(ctx context.Context, id, to string) ([]byte, int, string) {
	if to == "" {
		return nil, http.StatusBadRequest, "Pick the node to share the file with."
	}
	peers, err := h.node.Peers(ctx)
	if err != nil {
		h.log.Error("Read peers to share a file", "err", err)
		return nil, http.StatusInternalServerError, "The peer table could not be read; the node's log has the details."
	}
	var peer node.Peer
	for _, p := range peers {
		if string(p.ID) == to {
			peer = p
		}
	}
	if peer.ID == "" || to == string(h.node.Info().ID) {
		return nil, http.StatusBadRequest, "That node is not in the peer table; pick one from the list."
	}
	box, err := h.peerBoxKey(ctx, peer)
	if err != nil {
		h.log.Info("Read a peer's key to share a file", "peer", to, "err", err)
		return nil, http.StatusBadGateway, fmt.Sprintf("Could not read the key of %s at %s: %v. Is it up?", peerLabel(peer), peer.Endpoint, err)
	}
	b, err := h.node.ShareAsset(ctx, id, peer.ID, box)
	if err != nil {
		c := problem.Classify(err)
		if c.Public {
			h.log.Info("Share from dashboard refused", "id", id, "status", c.Status, "err", err)
		} else {
			h.log.Error("Share file from dashboard", "id", id, "err", err)
		}
		return nil, c.Status, userMessage(c)
	}
	return b, http.StatusOK, ""
}

// peerBoxKey reads a peer's X25519 key (hex) from its GET /pubkeys and
// checks that the peer answers with the node ID the peer table has.
func (h *Handler) peerBoxKey(ctx context.Context, p node.Peer) (string, error) {
	c, err := gen.NewClientWithResponses(strings.TrimRight(p.Endpoint, "/"), gen.WithHTTPClient(h.peerHTTP))
	if err != nil {
		return "", err
	}
	resp, err := c.GetPubkeysWithResponse(ctx)
	if err != nil {
		return "", err
	}
	if resp.JSON200 == nil {
		return "", fmt.Errorf("GET /pubkeys answered %s", resp.Status())
	}
	if identity.NodeID(resp.JSON200.NodeId) != p.ID {
		return "", fmt.Errorf("it answers as %s, not %s", resp.JSON200.NodeId, p.ID)
	}
	return resp.JSON200.BoxKey, nil
}

// shareFileName is the download name of a file's share manifest.
func shareFileName(name, id string) string {
	if strings.TrimSpace(name) == "" {
		name = "offgrid-" + id
	}
	return name + ".share.json"
}

// maxPeerAnswer bounds what is read of another node's answer: a key
// document is a few hundred bytes.
const maxPeerAnswer = 64 << 10

// limitedDoer reads at most maxPeerAnswer bytes of each answer.
type limitedDoer struct{ c *http.Client }

func (d limitedDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxPeerAnswer), resp.Body}
	return resp, nil
}

// fileURLShare is where a file page's share form posts.
func fileURLShare(id string) string {
	return "/ui/assets/" + url.PathEscape(id) + "/share"
}
