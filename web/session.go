package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// sessionCookie is the name of the dashboard session cookie.
const sessionCookie = "offgrid_session"

// sessionStore keeps dashboard sessions in memory. Sessions are keyed by the
// SHA-256 of their ID, so map lookups leak nothing useful about valid IDs
// through timing, and a memory dump holds no usable cookie values.
type sessionStore struct {
	max int
	ttl time.Duration
	now func() time.Time

	// mu guards expires.
	mu      sync.Mutex
	expires map[[sha256.Size]byte]time.Time
}

func newSessionStore(max int, ttl time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{max: max, ttl: ttl, now: now, expires: make(map[[sha256.Size]byte]time.Time)}
}

// create starts a session and returns its ID (32 random bytes, base64url).
// When the table is full it first drops expired sessions, then the one
// closest to expiry.
func (s *sessionStore) create() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.expires) >= s.max {
		s.pruneLocked(now)
	}
	for len(s.expires) >= s.max {
		var oldest [sha256.Size]byte
		var oldestExp time.Time
		first := true
		for k, exp := range s.expires {
			if first || exp.Before(oldestExp) {
				oldest, oldestExp, first = k, exp, false
			}
		}
		delete(s.expires, oldest)
	}
	s.expires[sha256.Sum256([]byte(id))] = now.Add(s.ttl)
	return id, nil
}

// pruneLocked deletes expired sessions. s.mu must be held.
func (s *sessionStore) pruneLocked(now time.Time) {
	for k, exp := range s.expires {
		if !now.Before(exp) {
			delete(s.expires, k)
		}
	}
}

// valid reports whether id names a live session; it forgets expired ones.
func (s *sessionStore) valid(id string) bool {
	if id == "" {
		return false
	}
	k := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.expires[k]
	if !ok {
		return false
	}
	if !now.Before(exp) {
		delete(s.expires, k)
		return false
	}
	return true
}

// delete ends the session id, if it exists.
func (s *sessionStore) delete(id string) {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expires, k)
}

// len returns the number of stored sessions, live or not yet pruned.
func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.expires)
}

// hasSession reports whether r carries a live session cookie.
func (h *Handler) hasSession(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	return err == nil && h.sessions.valid(c.Value)
}

// requireSession sends requests without a live session to the login page:
// htmx gets 401 with HX-Redirect (htmx then navigates), a browser GET a 303,
// anything else (websocket upgrades, plain POSTs) a bare 401.
func (h *Handler) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.hasSession(r) {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case isHTMX(r):
			w.Header().Set("HX-Redirect", "/login")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusUnauthorized)
		case r.Method == http.MethodGet && r.Header.Get("Upgrade") == "":
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		default:
			http.Error(w, "login required", http.StatusUnauthorized)
		}
	})
}

// setSessionCookie sets (or, with an empty id, clears) the session cookie.
func (h *Handler) setSessionCookie(w http.ResponseWriter, id string) {
	c := &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		Secure:   h.secure,
		SameSite: http.SameSiteStrictMode,
		MaxAge:   int(h.ttl / time.Second),
	}
	if id == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}
