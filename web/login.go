package web

import (
	"net/http"
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
// form again with 401 and no cookie.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, layout(h.pageMeta("Log in", false), loginForm("The form could not be read. Try again.")))
		return
	}
	token := r.PostForm.Get("token")
	if token == "" || !h.node.CheckAdminToken(token) {
		h.log.Info("Dashboard login refused", "remote", r.RemoteAddr)
		h.render(w, r, http.StatusUnauthorized, layout(h.pageMeta("Log in", false), loginForm("That admin token is not right.")))
		return
	}
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
