package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/websocket"

	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
)

// Live feed limits.
const (
	// feedBuffer is each connection's event buffer. When it is full the
	// node's bus drops the subscription and the socket is closed with 1013
	// (try again later); the browser's ws extension reconnects.
	feedBuffer = 64
	// feedWriteWait bounds every write to the socket.
	feedWriteWait = 10 * time.Second
	// feedPongWait is how long the connection may be silent (no pong, no
	// message) before it is considered dead.
	feedPongWait = 60 * time.Second
	// feedPingPeriod is how often the server pings; it must be less than
	// feedPongWait.
	feedPingPeriod = 25 * time.Second
	// feedMaxAdded is how many feed entries one connection adds to the
	// page before it deletes its oldest, so a page left open for days stays
	// small. It matches the history the page was rendered with.
	feedMaxAdded = node.EventHistorySize
	// feedReadLimit bounds client messages; the page sends none.
	feedReadLimit = 512
)

// errFeedDropped reports that the node's bus dropped a slow subscriber.
var errFeedDropped = errors.New("subscription dropped: client too slow")

// sameOrigin accepts a websocket upgrade only when the browser's Origin
// names the host the request was sent to. A missing Origin is refused too:
// the feed is for the dashboard page only.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// feedView is the page a live feed connection serves: it decides which
// events make entries and which cards are refreshed out-of-band (only
// cards the page has: a swap with no target is an error in the browser).
type feedView int

const (
	// viewDashboard: every event; status card and receipts refreshes.
	viewDashboard feedView = iota
	// viewStorage: storage events only; assets card refreshes.
	viewStorage
	// viewPeers: peer events only; peer table refreshes.
	viewPeers
	// viewMesh: mesh events only; mesh card refreshes.
	viewMesh
	// viewWallet: transfer events only; the wallet cards refresh.
	viewWallet
)

// feedViews maps the ?view= of a live feed URL to its view.
var feedViews = map[string]feedView{"storage": viewStorage, "peers": viewPeers, "mesh": viewMesh, "wallet": viewWallet}

// feedViewOf reads the ?view= of a live feed URL; anything else is the
// dashboard's.
func feedViewOf(r *http.Request) feedView {
	if v, ok := feedViews[r.URL.Query().Get("view")]; ok {
		return v
	}
	return viewDashboard
}

// feedURL is the live feed URL of a view whose page was rendered with the
// node's events up to sequence number after.
func feedURL(view feedView, after uint64, page url.Values) string {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	for k, v := range page {
		q[k] = v
	}
	for k, v := range feedViews {
		if v == view {
			q.Set("view", k)
		}
	}
	return "/ui/ws?" + q.Encode()
}

// feedAfter reads the ?after= of a live feed URL: the last event sequence
// number the page was rendered with. Without it (or with a malformed one)
// the feed replays nothing and only goes on live.
func feedAfter(r *http.Request) (uint64, bool) {
	v, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	return v, err == nil
}

// feedHistory is a feed card's content on load: the view's entries among
// the node's kept events, newest first, and the newest sequence number
// among all kept events, from which the page's websocket continues.
type feedHistory struct {
	View  feedView
	Items []feedItem
	After uint64
	// Query is the page's own parameters (the storage list's search and
	// page), so the feed's refreshes of its cards show the same slice.
	Query url.Values
}

// feedHistoryFor builds the feed card of a view from the node's kept
// events.
func (h *Handler) feedHistoryFor(view feedView) feedHistory {
	envs := h.node.EventHistory()
	f := feedHistory{View: view, Items: make([]feedItem, 0, len(envs))}
	for i := len(envs) - 1; i >= 0; i-- {
		if viewShows(view, envs[i].Event.Kind()) {
			f.Items = append(f.Items, feedItemOf(envs[i]))
		}
	}
	if len(envs) > 0 {
		f.After = envs[len(envs)-1].Seq
	}
	return f
}

// feed upgrades to a websocket and writes one HTML fragment per node event
// until the client leaves, the subscription is dropped, or the request's
// context ends. It owns two goroutines, a reader and a writer, and returns
// after both have stopped.
func (h *Handler) feed(w http.ResponseWriter, r *http.Request) {
	view := feedViewOf(r)
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has replied with an HTTP error.
	}
	defer conn.Close()
	// A page passes the last event it was rendered with; the events after
	// it that the bus still keeps are sent first, so nothing that happened
	// between the page load and this upgrade is missed.
	var replay []node.Envelope
	var sub *node.Subscription
	if after, ok := feedAfter(r); ok {
		replay, sub = h.node.SubscribeAfter(h.feedBuffer, after)
	} else {
		sub = h.node.Subscribe(h.feedBuffer)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	var wg sync.WaitGroup
	wg.Go(func() {
		defer cancel() // the client left: stop the writer
		readLoop(conn)
	})
	wg.Go(func() {
		defer cancel()
		defer conn.Close() // unblocks the reader
		if err := h.writeLoop(ctx, conn, sub, replay, view, assetQueryOf(r.URL.Query())); err != nil {
			h.log.Debug("Live feed ended", "remote", r.RemoteAddr, "err", err)
		}
	})
	wg.Wait()
}

// readLoop reads (and discards) client messages until the connection
// fails or closes, keeping the read deadline fresh on every pong.
func readLoop(conn *websocket.Conn) {
	conn.SetReadLimit(feedReadLimit)
	_ = conn.SetReadDeadline(time.Now().Add(feedPongWait))
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(feedPongWait))
	})
	for {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(feedPongWait))
	}
}

// writeLoop is the only goroutine that writes messages to conn.
// It first sends the replayed events (those between the page's render and
// the subscription), then "live", then every new event.
func (h *Handler) writeLoop(ctx context.Context, conn *websocket.Conn, sub *node.Subscription, replay []node.Envelope, view feedView, q assetQuery) error {
	ping := time.NewTicker(feedPingPeriod)
	defer ping.Stop()
	var added trimmer
	// receiptsStale coalesces receipts-table refreshes: the table is read
	// and sent once the queue is empty, not once per receipt in a burst.
	receiptsStale := false
	// The cards are throttled: refreshed once the queue is empty, and at
	// most once per throttle period; a throttle's timer sends the last
	// one of a burst.
	rf := refreshes{
		assets: throttle{every: h.assetsThrottle},
		peers:  throttle{every: h.networkThrottle},
		mesh:   throttle{every: h.networkThrottle},
		wallet: throttle{every: h.networkThrottle},
		query:  q,
	}
	defer rf.stop()
	for _, env := range replay {
		m, show := h.feedMsg(ctx, env, &added, view)
		receiptsStale = rf.mark(env, view) || receiptsStale
		if !show && !m.refreshes() {
			continue
		}
		if err := h.writeFragment(ctx, conn, feedMessage(m)); err != nil {
			return err
		}
	}
	// The page shows "live" once this arrives: from now on no event is
	// missed.
	if err := h.writeFragment(ctx, conn, feedStatus("live", "live")); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			closeFeed(conn, websocket.CloseServiceRestart, "server stopping")
			return nil
		case env, ok := <-sub.C():
			if !ok {
				closeFeed(conn, websocket.CloseTryAgainLater, "too slow")
				return errFeedDropped
			}
			m, show := h.feedMsg(ctx, env, &added, view)
			receiptsStale = rf.mark(env, view) || receiptsStale
			idle := len(sub.C()) == 0
			if receiptsStale && idle {
				rctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
				v := h.receiptsView(rctx)
				cancel()
				m.Receipts = &v
				receiptsStale = false
			}
			if idle {
				h.addDue(ctx, &rf, &m)
			}
			if !show && !m.refreshes() {
				continue
			}
			if err := h.writeFragment(ctx, conn, feedMessage(m)); err != nil {
				return err
			}
		case <-rf.assets.fired():
			rf.assets.timer = nil // fired: due may arm a new one
			if err := h.sendDue(ctx, conn, &rf); err != nil {
				return err
			}
		case <-rf.peers.fired():
			rf.peers.timer = nil
			if err := h.sendDue(ctx, conn, &rf); err != nil {
				return err
			}
		case <-rf.mesh.fired():
			rf.mesh.timer = nil
			if err := h.sendDue(ctx, conn, &rf); err != nil {
				return err
			}
		case <-rf.wallet.fired():
			rf.wallet.timer = nil
			if err := h.sendDue(ctx, conn, &rf); err != nil {
				return err
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(feedWriteWait)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

// refreshes are one connection's throttled card refreshes.
type refreshes struct {
	assets, peers, mesh, wallet throttle
	// latestMesh is the newest mesh event's metrics, sent when the mesh
	// card is due.
	latestMesh node.MeshMetrics
	// query is the storage list's search and page the page shows.
	query assetQuery
}

// mark notes the cards of the view that env makes stale, and reports
// whether it makes the receipts table stale.
func (rf *refreshes) mark(env node.Envelope, view feedView) (receipts bool) {
	switch e := env.Event.(type) {
	case node.ReceiptSigned:
		return view == viewDashboard
	case node.AssetChanged, node.AssetDeleted:
		rf.assets.stale = rf.assets.stale || view == viewStorage
	case node.PeerChanged:
		rf.peers.stale = rf.peers.stale || view == viewPeers
	case node.TransferFinal, node.TxProgress, node.WaitingForWitnesses, node.Settled, node.ReceiptsBilled, node.StorageBilled:
		rf.wallet.stale = rf.wallet.stale || view == viewWallet
	case node.MeshChanged:
		if view == viewMesh {
			rf.mesh.stale = true
			rf.latestMesh = e.Mesh
		}
	}
	return false
}

func (rf *refreshes) stop() {
	rf.assets.stop()
	rf.peers.stop()
	rf.mesh.stop()
	rf.wallet.stop()
}

// addDue adds to m every card refresh that is due now.
func (h *Handler) addDue(ctx context.Context, rf *refreshes, m *feedMsg) {
	now := time.Now()
	if rf.assets.due(now) {
		v := h.assetsViewFor(ctx, rf.query)
		m.Assets = &v
	}
	if rf.peers.due(now) {
		v := h.peersViewFor(ctx)
		m.Peers = &v
	}
	if rf.mesh.due(now) {
		m.Mesh = &meshView{Mesh: rf.latestMesh, Now: h.now()}
	}
	if rf.wallet.due(now) {
		v := h.walletViewFor(ctx)
		m.Wallet = &v
	}
}

// sendDue writes the card refreshes that are due, if any.
func (h *Handler) sendDue(ctx context.Context, conn *websocket.Conn, rf *refreshes) error {
	var m feedMsg
	h.addDue(ctx, rf, &m)
	if !m.refreshes() {
		return nil
	}
	return h.writeFragment(ctx, conn, feedMessage(m))
}

// assetsViewFor reads the assets card under the node call timeout.
func (h *Handler) assetsViewFor(ctx context.Context, q assetQuery) assetsView {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	return h.assetsView(ctx, q)
}

// throttle spaces out refreshes of one card: due says whether a refresh
// may go now and, when it may not yet, arms a timer for when it may.
type throttle struct {
	every time.Duration
	// stale says the card changed since it was last sent.
	stale bool
	last  time.Time
	timer *time.Timer
}

// due reports whether a stale card may be sent at now; if so it counts as
// sent. If it is stale but too soon, the timer is armed.
func (t *throttle) due(now time.Time) bool {
	if !t.stale {
		return false
	}
	if wait := t.every - now.Sub(t.last); !t.last.IsZero() && wait > 0 {
		if t.timer == nil {
			t.timer = time.NewTimer(wait)
		}
		return false
	}
	t.stop()
	t.stale = false
	t.last = now
	return true
}

// fired is the armed timer's channel, or nil (never ready).
func (t *throttle) fired() <-chan time.Time {
	if t.timer == nil {
		return nil
	}
	return t.timer.C
}

func (t *throttle) stop() {
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// writeFragment renders c into one text message, written under a deadline.
func (h *Handler) writeFragment(ctx context.Context, conn *websocket.Conn, c templ.Component) error {
	_ = conn.SetWriteDeadline(time.Now().Add(feedWriteWait))
	w, err := conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := c.Render(ctx, w); err != nil {
		_ = w.Close()
		return fmt.Errorf("render: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// closeFeed sends a close frame; errors don't matter, the socket is closed
// next anyway.
func closeFeed(conn *websocket.Conn, code int, text string) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

// feedMsg is one live feed message: a feed entry plus the out-of-band
// refreshes the event calls for.
type feedMsg struct {
	// Item, when set, is added to the top of the feed list.
	Item *feedItem
	// Status, when set, replaces the status card's live part.
	Status *node.Announce
	// Receipts, when set, replaces the receipts card.
	Receipts *receiptsView
	// Assets, when set, replaces the assets card.
	Assets *assetsView
	// Peers, when set, replaces the peers page's table card.
	Peers *peersView
	// Mesh, when set, replaces the mesh card.
	Mesh *meshView
	// Wallet, when set, replaces the wallet's balances and pool.
	Wallet *walletView
	// Delete lists element ids to remove (this connection's oldest).
	Delete []string
}

// refreshes reports whether m replaces any card.
func (m feedMsg) refreshes() bool {
	return m.Status != nil || m.Receipts != nil || m.Assets != nil || m.Peers != nil || m.Mesh != nil || m.Wallet != nil
}

// feedItem is one entry of the feed list.
type feedItem struct {
	ID   string
	Time time.Time
	Kind string
	Text string
	// State is an asset's or a peer's new state, for "asset" and "peer"
	// entries; for "mesh" entries "ok" or "not-ok".
	State string
}

// trimmer remembers the feed entries one connection added, oldest first.
type trimmer struct {
	ids []string
}

// add records id and returns the ids to delete: the oldest, once there are
// more than feedMaxAdded.
func (t *trimmer) add(id string) []string {
	t.ids = append(t.ids, id)
	if len(t.ids) <= feedMaxAdded {
		return nil
	}
	old := t.ids[0]
	t.ids = t.ids[1:]
	return []string{old}
}

// viewKinds are the events each page's feed shows; the dashboard's (not
// listed) shows all.
var viewKinds = map[feedView]map[string]bool{
	viewStorage: {"asset": true, "asset-deleted": true, "corrupt": true, "shard": true, "shard_lost": true, "upload_stalled": true},
	viewPeers:   {"peer": true},
	viewMesh:    {"mesh": true},
	viewWallet:  {"transfer_final": true, "waiting_for_witnesses": true, "settled": true, "receipts_billed": true, "receipt_accepted": true, "job_paid": true, "storage_billed": true},
}

// feedMsg turns an event into the message for the page. show is false
// when the page's view does not list this kind of event; the message then
// has no item (but the caller may still add refreshes).
func (h *Handler) feedMsg(ctx context.Context, env node.Envelope, added *trimmer, view feedView) (m feedMsg, show bool) {
	if !viewShows(view, env.Event.Kind()) {
		return feedMsg{}, false
	}
	it := feedItemOf(env)
	m.Delete = added.add(it.ID)
	switch e := env.Event.(type) {
	case node.ToggleChanged:
		actx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
		a, err := h.node.Announce(actx)
		cancel()
		if err == nil {
			m.Status = &a
		}
	case node.AnnounceChanged:
		a := e.Announce
		m.Status = &a
	}
	m.Item = &it
	return m, true
}

// viewShows reports whether a view's feed lists events of kind. No feed
// lists a transaction's progress (one per witness round): it only fills
// the wallet's bars.
func viewShows(view feedView, kind string) bool {
	if kind == "tx_progress" {
		return false
	}
	kinds, ok := viewKinds[view]
	return !ok || kinds[kind]
}

// feedItemOf is the feed entry describing env.
func feedItemOf(env node.Envelope) feedItem {
	it := feedItem{ID: "feed-" + strconv.FormatUint(env.Seq, 10), Time: env.Time, Kind: env.Event.Kind()}
	switch e := env.Event.(type) {
	case node.ToggleChanged:
		if e.Active {
			it.Text = "Switched on: accepting jobs and storage."
		} else {
			it.Text = "Switched off: not accepting new work."
		}
	case node.AnnounceChanged:
		a := e.Announce
		it.Text = fmt.Sprintf("Settings changed: compute %s, storage %s credits; on-call ≥ %d%%, burst ≤ %d%%.",
			fixed.Format(a.Prices.Compute), fixed.Format(a.Prices.Storage), a.MinOncallPercent, a.BurstPercentMax)
	case node.ReceiptSigned:
		rc := e.Receipt
		it.Text = fmt.Sprintf("Signed receipt #%d for %s job %s: %s units.",
			rc.Seq, rc.ResourceType, short(rc.JobID, 12), fixed.Format(rc.Units))
	case node.ShardStored:
		it.Text = fmt.Sprintf("Stored shard %d of asset %s (%s).", e.Index, short(e.AssetID, 12), humanBytes(e.Size))
	case node.AssetChanged:
		it.Text = assetText(e.Asset)
		it.State = string(e.Asset.State)
	case node.AssetDeleted:
		it.Text = fmt.Sprintf("Deleted %s (%s); its hosts were asked to drop its shards.", orDash(e.Name), short(e.ID, 12))
	case node.ShardCorrupt:
		it.Text = corruptText(e)
	case node.ShardLost:
		it.Text = fmt.Sprintf("Hosted shard %d of asset %s was lost or corrupt on this node's disk (found by %s); quarantined, its owner repairs it.",
			e.Index, short(e.AssetID, 12), e.FoundBy)
		it.State = "lost"
	case node.UploadStalled:
		it.Text = uploadStalledText(e)
		it.State = "stalled"
	case node.JobPaid:
		it.Text = fmt.Sprintf("Paid %s credits to %s for job %s.", fixed.Format(e.Amount), short(string(e.Host), 20), short(e.JobID, 12))
	case node.PeerChanged:
		it.Text = peerText(e.Peer)
		it.State = peerStateClass(e.Peer.State)
	case node.MeshChanged:
		it.Text = meshText(e.Mesh)
		it.State = "not-ok"
		if e.Mesh.MeshOK {
			it.State = "ok"
		}
	case node.LoginRefused:
		it.Text = loginRefusedText(e)
	case node.TransferFinal:
		it.Text = transferText(e)
		it.State = "final"
	case node.WaitingForWitnesses:
		it.Text = waitingText(e)
		it.State = "waiting"
	case node.ReceiptAccepted:
		it.Text = fmt.Sprintf("Receipt #%d accepted by %s: it can be paid.", e.Receipt.Seq, short(string(e.Receipt.ConsumerID), 20))
	case node.ReceiptsBilled:
		it.Text = fmt.Sprintf("%s billed %d accepted receipts; they are owed.", short(string(e.Host), 20), e.Added)
	case node.StorageBilled:
		it.Text = storageBilledText(e.Receipt)
	case node.Settled:
		it.Text = fmt.Sprintf("Settled %d receipts: %s credits plus %s in fees, in %d payments.",
			e.Receipts, fixed.Format(e.Amount), fixed.Format(e.Fees), len(e.Txs))
		it.State = "final"
	case node.ClusterChanged:
		it.Text = fmt.Sprintf("Cluster %s version %d installed: %d members, %d revoked.",
			short(e.Document.ID.String(), 12), e.Document.Serial, len(e.Document.Members), len(e.Document.Revoked))
	default:
		it.Text = "Node event."
	}
	return it
}

// uploadStalledText describes a put that made no progress for the stall age.
func uploadStalledText(e node.UploadStalled) string {
	done := humanBytes(e.Read)
	if e.Size >= 0 {
		done += " of " + humanBytes(e.Size)
	}
	return fmt.Sprintf("Upload of %s (%s) stalled: nothing received since %s, %s so far.",
		orDash(e.Name), short(e.AssetID, 12), e.Since.UTC().Format("15:04:05"), done)
}

// loginRefusedText describes a refused dashboard login.
func loginRefusedText(e node.LoginRefused) string {
	t := fmt.Sprintf("Refused a dashboard login from %s: wrong admin token (%d in a row)", e.Remote, e.Failures)
	if e.Backoff > 0 {
		return t + fmt.Sprintf("; that address must wait %s.", waitText(backoff.Seconds(e.Backoff)))
	}
	return t + "."
}

// humanBytes formats n bytes with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit && exp < 4; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// feedTitle is the heading of a view's feed card.
func feedTitle(view feedView) string {
	switch view {
	case viewStorage:
		return "Storage activity"
	case viewPeers:
		return "Peer activity"
	case viewMesh:
		return "Mesh activity"
	case viewWallet:
		return "Transfers"
	default:
		return "Live feed"
	}
}

// feedEmpty is what a view's feed card says before any event arrives.
func feedEmpty(view feedView) string {
	switch view {
	case viewStorage:
		return "Changes to stored files show up here as they happen: uploads reaching every host, shards lost and repaired, corrupt shards caught."
	case viewPeers:
		return "Peers showing up, going down and coming back are listed here as they happen."
	case viewMesh:
		return "Changes the routing daemon reports (neighbours, routes, mesh health) are listed here as they happen."
	case viewWallet:
		return "Transfers becoming final, and transfers waiting for witnesses, are listed here as they happen."
	default:
		return "Events show up here as they happen: switching on or off, price changes, receipts, stored shards, refused logins."
	}
}

// storageBilledText says what a host's storage receipt for a window is
// for: the bytes kept, the window, and what it costs.
func storageBilledText(r ledger.Receipt) string {
	text := fmt.Sprintf("%s billed keeping your shards", short(string(r.NodeID), 20))
	if w, _, ok := ledger.StorageWindowOf(r.JobID); ok {
		text = fmt.Sprintf("%s billed keeping %s of your shards, %s", short(string(r.NodeID), 20),
			humanBytes(int64(r.Metrics[ledger.MetricBytes])), w)
	}
	reward, err := r.Reward()
	if err != nil {
		return text + "; it is owed."
	}
	return text + fmt.Sprintf(": %s credits owed.", fixed.Format(reward))
}
