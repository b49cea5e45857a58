package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"
)

// cookieName is the session cookie. It holds the session token that the
// API answered at login (KeyService.CreateSession): the console forwards
// it to the API with every call and keeps nothing of a session itself,
// so that every gateway process on one store serves every login and a
// restart keeps them. The API key typed at login is used once, to start
// the session, and then forgotten.
const cookieName = "dispatchd_console"

// flashCookie carries the outcome of an action to the next page. It never
// holds a secret: a one-time reveal is rendered in the action's answer.
const flashCookie = "dispatchd_flash"

// session is the request's login, as the API describes it.
type session struct {
	token string // the session token, from the cookie
	scope string // its key's scope: the pages offer only what it may do
	csrf  string // must come back with every state-changing request
}

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

// csrfToken derives the CSRF token from the session token: a page can
// show it, and a forger, who cannot read the HttpOnly cookie, cannot make
// it. Being derived, it needs no storage and is the same in every process.
func csrfToken(sessionToken string) string {
	sum := sha256.Sum256([]byte("dispatchd console csrf\x00" + sessionToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/console/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: maxAge,
	})
}

// startSession sets the cookie of a session that lasts until expires.
func startSession(w http.ResponseWriter, r *http.Request, token string, expires time.Time, now time.Time) {
	setCookie(w, r, cookieName, token, int(expires.Sub(now)/time.Second))
}

// endSession clears the session cookie.
func endSession(w http.ResponseWriter, r *http.Request) {
	setCookie(w, r, cookieName, "", -1)
}

// setFlash keeps msg for the next page.
func setFlash(w http.ResponseWriter, r *http.Request, msg string) {
	setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60)
}

// takeFlash returns the message an earlier action left, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	setCookie(w, r, flashCookie, "", -1)
	msg, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return ""
	}
	return string(msg)
}

// validCSRF compares the form's token with the session's in constant time.
func validCSRF(sess *session, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(sess.csrf), []byte(token)) == 1
}
