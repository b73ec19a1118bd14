package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// receiptsLimit is how many receipts the dashboard table shows.
const receiptsLimit = 20

// nodeCallTimeout bounds each engine call a dashboard request makes.
const nodeCallTimeout = 5 * time.Second

// dashboardView is the data of the whole dashboard.
type dashboardView struct {
	Status   statusView
	Prices   pricesForm
	Receipts receiptsView
	Peers    peersView
	Feed     feedHistory
	Overview overviewView
}

// statusView is the data of the status card.
type statusView struct {
	Info     node.Info
	Uptime   string
	Announce node.Announce
	// Err is a user-facing message when the announce could not be read.
	Err string
}

// receiptsView is the data of the receipts card.
type receiptsView struct {
	Receipts []ledger.Receipt
	Err      string
}

// peersView is the data of the peers card.
type peersView struct {
	Peers []node.Peer
	Now   time.Time
	Err   string
}

// pricesForm is the state of the prices and on-call form.
type pricesForm struct {
	// Values are the input values by field name.
	Values map[string]string
	// Errors are user-facing messages by field name.
	Errors map[string]string
	// Summary is a form-wide error (e.g. the node refused the values).
	Summary string
	// LoadErr replaces the form when the current settings can't be read.
	LoadErr string
	// Saved says the last submit succeeded.
	Saved bool
}

// formField describes one input of the prices form.
type formField struct {
	Name, Label, Unit, Hint, TestID, InputMode string
}

// Form field names, shared by the template, the parser and the tests.
const (
	fieldCompute   = "compute_price"
	fieldStorage   = "storage_price"
	fieldOncallMin = "min_oncall_percent"
	fieldBurstMax  = "burst_percent_max"
)

// priceFields lists the form's inputs in display order.
var priceFields = []formField{
	{fieldCompute, "Compute price", "credits", "Per compute unit (a million tokens). Up to 6 decimals.", "price-compute", "decimal"},
	{fieldStorage, "Storage price", "credits", "Per gigabyte stored for an hour. Up to 6 decimals.", "price-storage", "decimal"},
	{fieldOncallMin, "Minimum on-call", "%", "Share of time this node promises to be available, 0–100.", "oncall-min", "numeric"},
	{fieldBurstMax, "Burst maximum", "%", "Largest share of this machine a burst may use, 0–100.", "burst-max", "numeric"},
}

// formFromAnnounce fills the form with the node's current settings.
func formFromAnnounce(a node.Announce) pricesForm {
	return pricesForm{Values: map[string]string{
		fieldCompute:   fixed.Format(a.Prices.Compute),
		fieldStorage:   fixed.Format(a.Prices.Storage),
		fieldOncallMin: strconv.Itoa(a.MinOncallPercent),
		fieldBurstMax:  strconv.Itoa(a.BurstPercentMax),
	}}
}

// dashboard serves the whole dashboard (or, for htmx, its body).
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	// The feed first: an event after it is replayed by the websocket and
	// refreshes the cards read below.
	var v dashboardView
	v.Feed = h.feedHistoryFor(viewDashboard)
	status := h.statusView(ctx)
	v.Status = status
	if status.Err != "" {
		v.Prices = pricesForm{LoadErr: status.Err}
	} else {
		v.Prices = formFromAnnounce(status.Announce)
	}
	v.Overview = h.overviewViewFor(ctx, rangeOf(r.URL.Query().Get("range")))
	v.Receipts = h.receiptsView(ctx)
	v.Peers = h.peersView(ctx)
	h.renderPage(w, r, http.StatusOK, "Dashboard", navDashboard, dashboardBody(v))
}

func (h *Handler) statusView(ctx context.Context) statusView {
	info := h.node.Info()
	s := statusView{Info: info, Uptime: uptime(h.now(), info.Started)}
	a, err := h.node.Announce(ctx)
	if err != nil {
		h.log.Warn("Read announce for dashboard", "err", err)
		s.Err = "The node's current settings could not be read."
		return s
	}
	s.Announce = a
	return s
}

func (h *Handler) receiptsView(ctx context.Context) receiptsView {
	rs, err := h.node.RecentReceipts(ctx, receiptsLimit)
	if err != nil {
		h.log.Warn("Read receipts for dashboard", "err", err)
		return receiptsView{Err: "Receipts could not be read."}
	}
	return receiptsView{Receipts: rs}
}

func (h *Handler) peersView(ctx context.Context) peersView {
	ps, err := h.node.Peers(ctx)
	if err != nil {
		h.log.Warn("Read peers for dashboard", "err", err)
		return peersView{Err: "The peer table could not be read."}
	}
	return peersView{Peers: ps, Now: h.now()}
}

// toggle switches the node on or off. The form sends the wanted state in
// "active" so a double submit cannot flip it back; without it, the state
// flips. htmx gets the status card; a plain form post is redirected home.
func (h *Handler) toggle(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	var want bool
	switch v := r.PostForm.Get("active"); v {
	case "true", "false":
		want = v == "true"
	case "":
		a, err := h.node.Announce(ctx)
		if err != nil {
			h.log.Warn("Read announce for toggle", "err", err)
			http.Error(w, "the node's state could not be read", problem.Classify(err).Status)
			return
		}
		want = !a.Active
	default:
		http.Error(w, `active must be "true" or "false"`, http.StatusBadRequest)
		return
	}
	info := h.node.Info()
	s := statusView{Info: info, Uptime: uptime(h.now(), info.Started)}
	a, err := h.node.SetActive(ctx, want)
	if err != nil {
		h.log.Warn("Switch node from dashboard", "active", want, "err", err)
		s.Err = "The node could not be switched. Try again."
		h.renderPart(w, r, problem.Classify(err).Status, "Node", statusCard(s))
		return
	}
	h.log.Info("Node switched from dashboard", "active", a.Active)
	if !isHTMX(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.Announce = a
	h.render(w, r, http.StatusOK, statusCard(s))
}

// savePrices validates and applies the prices form. Any bad field means
// nothing is changed and the form comes back with 422 and inline errors.
func (h *Handler) savePrices(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f, u := parsePricesForm(r.PostForm)
	if len(f.Errors) > 0 {
		h.renderPart(w, r, http.StatusUnprocessableEntity, "Prices", pricesCard(f))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	a, err := h.node.UpdateAnnounce(ctx, u)
	if err != nil {
		c := problem.Classify(err)
		status := c.Status
		if status == http.StatusBadRequest {
			// The node refused the values: its reason describes the input.
			// The form answers it as its own checks do, with 422, the one
			// error status htmx swaps in (layout.templ's htmxConfig).
			status, f.Summary = http.StatusUnprocessableEntity, c.Reason
		} else {
			h.log.Warn("Update announce from dashboard", "err", err)
			f.Summary = "The node could not save the settings. Try again."
		}
		h.renderPart(w, r, status, "Prices", pricesCard(f))
		return
	}
	h.log.Info("Prices changed from dashboard", "compute", fixed.Format(a.Prices.Compute),
		"storage", fixed.Format(a.Prices.Storage), "minOncall", a.MinOncallPercent, "burstMax", a.BurstPercentMax)
	if !isHTMX(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	f = formFromAnnounce(a)
	f.Saved = true
	h.render(w, r, http.StatusOK, pricesCard(f))
}

// parsePricesForm reads the four settings. It returns the form to show
// back (submitted values, plus an error per bad field) and, when there are
// no errors, the update to apply.
func parsePricesForm(vals map[string][]string) (pricesForm, node.AnnounceUpdate) {
	get := func(k string) string {
		if v := vals[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	f := pricesForm{Values: map[string]string{}, Errors: map[string]string{}}
	for _, fld := range priceFields {
		f.Values[fld.Name] = get(fld.Name)
	}
	price := func(name string) *int64 {
		s := f.Values[name]
		if s == "" {
			f.Errors[name] = "enter a price, e.g. 2.5"
			return nil
		}
		v, err := fixed.Parse(s)
		switch {
		case errors.Is(err, fixed.ErrRange):
			f.Errors[name] = "too large"
			return nil
		case err != nil:
			f.Errors[name] = "must be a number like 2.5, with at most 6 decimals"
			return nil
		case v < 0:
			f.Errors[name] = "must not be negative"
			return nil
		}
		return &v
	}
	percent := func(name string) *int {
		s := f.Values[name]
		if s == "" {
			f.Errors[name] = "enter a whole number from 0 to 100"
			return nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 100 {
			f.Errors[name] = "must be a whole number from 0 to 100"
			return nil
		}
		return &v
	}
	u := node.AnnounceUpdate{
		ComputePrice:     price(fieldCompute),
		StoragePrice:     price(fieldStorage),
		MinOncallPercent: percent(fieldOncallMin),
		BurstPercentMax:  percent(fieldBurstMax),
	}
	if u.MinOncallPercent != nil && u.BurstPercentMax != nil && *u.MinOncallPercent > *u.BurstPercentMax {
		f.Errors[fieldOncallMin] = "must not be more than the burst maximum"
	}
	return f, u
}

// receipts serves the receipts card.
func (h *Handler) receipts(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	h.renderPart(w, r, http.StatusOK, "Receipts", receiptsCard(h.receiptsView(ctx), false))
}

// peers serves the peers card.
func (h *Handler) peers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	h.renderPart(w, r, http.StatusOK, "Peers", peersCard(h.peersView(ctx)))
}

// displayName is the node's name, or a placeholder when it has none.
func displayName(name string) string {
	if name == "" {
		return "Unnamed node"
	}
	return name
}

// orDash shows "—" for an empty value.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// short keeps the first n bytes of s (fewer, to end on a whole UTF-8
// character) and marks the cut.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// shortNodeID shortens a did:key to its start and end, which is how people
// compare keys by eye.
func shortNodeID(id identity.NodeID) string {
	s := strings.TrimPrefix(string(id), "did:key:")
	if len(s) <= 16 {
		return s
	}
	return s[:8] + "…" + s[len(s)-6:]
}

// msTime converts unix milliseconds to a time.
func msTime(ms int64) time.Time {
	return time.UnixMilli(ms)
}

// uptime formats how long ago started was, coarsely.
func uptime(now, started time.Time) string {
	if started.IsZero() {
		return "—"
	}
	d := now.Sub(started)
	if d < 0 {
		d = 0
	}
	return coarse(d)
}

// ago formats how long before now t was.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 5*time.Second {
		return "just now"
	}
	return coarse(d) + " ago"
}

// coarse formats d with its two largest units ("3d 4h", "5m 2s").
func coarse(d time.Duration) string {
	d = d.Round(time.Second)
	days := int64(d / (24 * time.Hour))
	hours := int64(d/time.Hour) % 24
	mins := int64(d/time.Minute) % 60
	secs := int64(d/time.Second) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm %ds", mins, secs)
	default:
		return fmt.Sprintf("%ds", secs)
	}
}
