package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/node"
)

// maxFormBytes bounds every dashboard form body.
const maxFormBytes = 16 << 10

// loginPage shows the login form, or sends a logged-in user to the dashboard.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if h.hasSession(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, layout(h.pageMeta("Log in", false), loginForm("")))
}

// login checks the admin token and starts a session. A wrong token gets the
// form again with 401 and no cookie. An address that sent backoff.FreeFailures
// wrong tokens in a row is refused with 429 and Retry-After, without its
// token being read, until its back-off ends; even the right token waits.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	addr := backoff.ClientAddr(r.RemoteAddr)
	if wait := h.logins.Wait(addr); wait > 0 {
		h.metrics.loginThrottled.Inc()
		h.log.Debug("Dashboard login throttled", "remote", r.RemoteAddr, "wait", wait.String())
		secs := backoff.Seconds(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.render(w, r, http.StatusTooManyRequests, layout(h.pageMeta("Log in", false),
			loginForm(fmt.Sprintf("Too many wrong admin tokens from your address. Try again in %s.", waitText(secs)))))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, layout(h.pageMeta("Log in", false), loginForm("The form could not be read. Try again.")))
		return
	}
	token := r.PostForm.Get("token")
	if token == "" || !h.node.CheckAdminToken(token) {
		failures, wait := h.logins.Fail(addr)
		h.metrics.loginFailures.Inc()
		h.log.Info("Dashboard login refused", "remote", r.RemoteAddr, "failures", failures, "backoff", wait.String())
		h.node.ReportLoginRefused(node.LoginRefused{Remote: backoff.AddrLabel(addr), Failures: failures, Backoff: wait})
		msg := "That admin token is not right."
		if wait > 0 {
			msg += fmt.Sprintf(" Too many wrong tokens: wait %s before the next try.", waitText(backoff.Seconds(wait)))
		}
		h.render(w, r, http.StatusUnauthorized, layout(h.pageMeta("Log in", false), loginForm(msg)))
		return
	}
	h.logins.Succeed(addr)
	id, err := h.sessions.create()
	if err != nil {
		h.log.Error("Create dashboard session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.log.Info("Dashboard login", "remote", r.RemoteAddr)
	h.setSessionCookie(w, id)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// waitText says secs for people: seconds under two minutes, else minutes
// rounded up.
func waitText(secs int) string {
	switch {
	case secs == 1:
		return "1 second"
	case secs < 120:
		return strconv.Itoa(secs) + " seconds"
	default:
		return strconv.Itoa((secs+59)/60) + " minutes"
	}
}

// logout ends the session and clears the cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		h.sessions.delete(c.Value)
	}
	h.setSessionCookie(w, "")
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", "/login")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
