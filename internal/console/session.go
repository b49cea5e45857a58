package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// cookieName is the session cookie. It holds only a random session id:
// the API key stays on the server.
const cookieName = "dispatchd_console"

// session is one logged-in browser.
type session struct {
	key     string // the API key the console calls the API with
	scope   string // the key's scope: the pages offer only what it may do
	csrf    string // must come back with every state-changing request
	expires time.Time
	// flash is shown once on the next page: a one-time secret reveal or
	// the outcome of an action.
	flash       string
	flashSecret string
}

// sessions are kept in memory: a restart logs everyone out, and behind a
// load balancer a browser must stick to one gateway process.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for key and sets its cookie.
func (s *sessions) create(w http.ResponseWriter, r *http.Request, key, scope string) {
	id := randomToken()
	s.mu.Lock()
	now := s.now()
	for k, v := range s.m { // expired sessions go when someone logs in
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[id] = &session{key: key, scope: scope, csrf: randomToken(), expires: now.Add(s.ttl)}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: "/console/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(s.ttl / time.Second),
	})
}

// get returns the request's live session.
func (s *sessions) get(r *http.Request) (string, *session) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[c.Value]
	if !ok {
		return "", nil
	}
	if s.now().After(sess.expires) {
		delete(s.m, c.Value)
		return "", nil
	}
	return c.Value, sess
}

// end forgets the session and clears its cookie.
func (s *sessions) end(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/console/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
}

// takeFlash returns and clears the session's one-time messages.
func (s *sessions) takeFlash(sess *session) (string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, secret := sess.flash, sess.flashSecret
	sess.flash, sess.flashSecret = "", ""
	return f, secret
}

func (s *sessions) setFlash(sess *session, msg, secret string) {
	s.mu.Lock()
	sess.flash, sess.flashSecret = msg, secret
	s.mu.Unlock()
}

// validCSRF compares the form's token with the session's in constant time.
func validCSRF(sess *session, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(sess.csrf), []byte(token)) == 1
}
