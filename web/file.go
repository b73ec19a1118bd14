package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
)

// stripesPerPage bounds the stripes one file page shows: a 100 GB file
// has thousands.
const stripesPerPage = 32

// fileView is the data of a stored file's page.
type fileView struct {
	Asset node.Asset
	// Hosts are the hosts holding its shards, most shards first.
	Hosts []fileHost
	// Stripes are this page's stripes, each with its shards by index.
	Stripes []fileStripe
	// Page and Pages number the stripe pages from 1.
	Page, Pages int
	Now         time.Time
	// Peers are the nodes the file can be shared with.
	Peers []sharePeer
	// ShareErr says why the last share failed.
	ShareErr string
}

// fileHost is one host of a file: how many of its shards it holds and
// what the peer table says about it.
type fileHost struct {
	ID       string
	Label    string
	Endpoint string
	// Self says the host is this node.
	Self bool
	// Live and Dead count the file's shards on the host by their state.
	Live, Dead int
	// State is the host's one state (peerStatus), "self" for this node.
	State peerStatus
	// Link is the host's page, "" when the peer table has no row for it.
	Link string
}

// fileStripe is one stripe's shards.
type fileStripe struct {
	Index  int
	Live   int
	Shards []fileShard
}

// fileShard is one shard of a stripe; a shard no host acknowledged has no
// host.
type fileShard struct {
	Index int
	Host  string
	Live  bool
	// Known says some host acknowledged the shard.
	Known bool
}

// filePage serves a stored file's page: its stripes, which host holds
// which shard and whether it is live, its audits, the losses it survives,
// download, sharing and delete.
func (h *Handler) filePage(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !validAssetID(id) {
		h.fileMissing(w, r)
		return
	}
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	v, err := h.fileViewFor(ctx, id, page)
	if errors.Is(err, node.ErrNotFound) {
		h.fileMissing(w, r)
		return
	}
	if err != nil {
		h.log.Error("Read stored file for its page", "id", id, "err", err)
		p := h.pageMeta("Stored file", true)
		p.Nav = navStorage
		h.render(w, r, http.StatusInternalServerError, layout(p, fileError("The file's record could not be read.")))
		return
	}
	h.renderPage(w, r, http.StatusOK, orDash(v.Asset.Name), navStorage, fileBody(v))
}

// fileMissing answers a file page for an ID the node has no file under.
func (h *Handler) fileMissing(w http.ResponseWriter, r *http.Request) {
	p := h.pageMeta("No such file", true)
	p.Nav = navStorage
	h.render(w, r, http.StatusNotFound, layout(p, fileError("There is no stored file with that ID on this node.")))
}

// fileViewFor reads a file, its shard places and the peer table.
func (h *Handler) fileViewFor(ctx context.Context, id string, page int) (fileView, error) {
	a, places, err := h.node.AssetDetail(ctx, id)
	if err != nil {
		return fileView{}, err
	}
	peers, err := h.node.Peers(ctx)
	if err != nil {
		h.log.Warn("Read peers for a file page", "err", err)
	}
	self := string(h.node.Info().ID)
	v := fileView{Asset: a, Now: h.now()}
	v.Hosts = fileHosts(places, peers, self)
	v.Peers = sharePeers(peers, self)
	stripes := max(a.Stripes, len(a.StripeShards))
	v.Pages = max(1, (stripes+stripesPerPage-1)/stripesPerPage)
	v.Page = min(page, v.Pages)
	first := (v.Page - 1) * stripesPerPage
	last := min(first+stripesPerPage, stripes)
	labels := map[string]string{}
	for _, hst := range v.Hosts {
		labels[hst.ID] = hst.Label
	}
	for s := first; s < last; s++ {
		st := fileStripe{Index: s, Shards: make([]fileShard, a.N)}
		for i := range st.Shards {
			st.Shards[i].Index = i
		}
		v.Stripes = append(v.Stripes, st)
	}
	for _, p := range places {
		if p.Stripe < first || p.Stripe >= last || p.Index >= a.N {
			continue
		}
		st := &v.Stripes[p.Stripe-first]
		st.Shards[p.Index] = fileShard{Index: p.Index, Host: labels[p.HostID], Live: p.Live, Known: true}
		if p.Live {
			st.Live++
		}
	}
	return v, nil
}

// fileHosts groups a file's shard places by host and labels each host
// from the peer table.
func fileHosts(places []node.ShardPlace, peers []node.Peer, self string) []fileHost {
	byID := map[string]node.Peer{}
	for _, p := range peers {
		if p.ID != "" {
			byID[string(p.ID)] = p
		}
	}
	idx := map[string]int{}
	var out []fileHost
	for _, p := range places {
		i, ok := idx[p.HostID]
		if !ok {
			fh := fileHost{ID: p.HostID, Endpoint: p.Endpoint, Self: p.HostID == self}
			switch peer, known := byID[p.HostID]; {
			case fh.Self:
				fh.Label = "this node"
				fh.State = peerStatus{Class: "up", Label: "this node"}
			case known:
				fh.Label = peerLabel(peer)
				fh.State = peerStatusOf(peer)
				fh.Link = peerURL(peer)
				fh.Endpoint = peer.Endpoint
			default:
				fh.Label = shortNodeID(identity.NodeID(p.HostID))
				fh.State = peerStatus{Class: "unknown", Label: "not in the peer table"}
			}
			i = len(out)
			idx[p.HostID] = i
			out = append(out, fh)
		}
		if p.Live {
			out[i].Live++
		} else {
			out[i].Dead++
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Live+out[a].Dead > out[b].Live+out[b].Dead })
	return out
}

// fileURL is a stored file's page.
func fileURL(id string) string {
	return "/storage/" + url.PathEscape(id)
}

// filePageURL is a page of a stored file's stripes.
func filePageURL(id string, page int) string {
	return fileURL(id) + "?page=" + strconv.Itoa(page)
}

// shardClass is a shard square's colour: live, dead or missing.
func shardClass(s fileShard) string {
	switch {
	case !s.Known:
		return "missing"
	case s.Live:
		return "live"
	default:
		return "dead"
	}
}

// shardTitle names a shard square's shard and host.
func shardTitle(s fileShard) string {
	t := "shard " + strconv.Itoa(s.Index)
	if !s.Known {
		return t + ": not stored"
	}
	return t + " on " + s.Host + ": " + shardClass(s)
}
