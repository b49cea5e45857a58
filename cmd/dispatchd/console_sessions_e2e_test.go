package main

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/dispatchd/dispatchd/internal/apikey"
)

// TestSessionsAPI checks KeyService.CreateSession and DeleteSession over
// HTTP on both engines: a session token works as its key until logout,
// and cannot start another session.
func TestSessionsAPI(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newAPIReceiver(t, apiSecret)
		svc, bootstrap := startAPIService(t, dbURL, recv)
		created := rest(t, "POST", svc.httpURL+"/v1/keys", bootstrap, map[string]any{"name": "viewer", "scope": "read"})
		if created.status != 200 {
			t.Fatalf("POST /v1/keys: %d %s", created.status, created.body)
		}
		key := created.json(t)["key"].(string)

		if r := rest(t, "POST", svc.httpURL+"/v1/sessions", key, map[string]any{}); r.status != 400 || !strings.Contains(string(r.body), "ttl_seconds") {
			t.Errorf("POST /v1/sessions without a lifetime: %d %s, want 400 naming ttl_seconds", r.status, r.body)
		}
		r := rest(t, "POST", svc.httpURL+"/v1/sessions", key, map[string]any{"ttlSeconds": 3600})
		if r.status != 200 {
			t.Fatalf("POST /v1/sessions: %d %s", r.status, r.body)
		}
		token, _ := r.json(t)["sessionToken"].(string)
		if !strings.HasPrefix(token, apikey.SessionPrefix) || r.json(t)["expiresAt"] == nil {
			t.Fatalf("session answer = %s", r.body)
		}
		// Only the hash is stored.
		if _, err := openTestStore(t, dbURL).(apikey.Store).GetSession(context.Background(), apikey.Hash(token)); err != nil {
			t.Errorf("GetSession(hash of the token): %v", err)
		}
		who := rest(t, "GET", svc.httpURL+"/v1/whoami", token, nil)
		if who.status != 200 || who.json(t)["scope"] != "read" || who.json(t)["name"] != "viewer" {
			t.Errorf("GET /v1/whoami with the session: %d %s, want the read key viewer", who.status, who.body)
		}
		if r := rest(t, "POST", svc.httpURL+"/v1/keys", token, map[string]any{"name": "escalated"}); r.status != 403 {
			t.Errorf("POST /v1/keys with a read key's session: %d %s, want 403", r.status, r.body)
		}
		if r := rest(t, "POST", svc.httpURL+"/v1/sessions", token, map[string]any{"ttlSeconds": 3600}); r.status != 400 {
			t.Errorf("POST /v1/sessions with a session token: %d %s, want 400", r.status, r.body)
		}
		if r := rest(t, "POST", svc.httpURL+"/v1/sessions:delete", key, nil); r.status != 400 {
			t.Errorf("POST /v1/sessions:delete with a key: %d %s, want 400", r.status, r.body)
		}
		if r := rest(t, "POST", svc.httpURL+"/v1/sessions:delete", token, nil); r.status != 200 {
			t.Fatalf("POST /v1/sessions:delete: %d %s", r.status, r.body)
		}
		if r := rest(t, "GET", svc.httpURL+"/v1/whoami", token, nil); r.status != 401 {
			t.Errorf("GET /v1/whoami after logout: %d %s, want 401", r.status, r.body)
		}
		if r := rest(t, "GET", svc.httpURL+"/v1/whoami", key, nil); r.status != 200 {
			t.Errorf("GET /v1/whoami with the key after logout: %d %s, want 200", r.status, r.body)
		}
	})
}

// TestConsoleSessionsInTheStore checks on both engines that a console login
// outlives the process that made it (the next process on the same store
// serves it; on PostgreSQL, so does one running beside it), and that
// logout and revoking its key end it.
func TestConsoleSessionsInTheStore(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newAPIReceiver(t, apiSecret)
		bootstrap, _ := apikey.Generate()
		env := map[string]string{
			"DISPATCHD_DATABASE_URL":           dbURL,
			"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
			"DISPATCHD_API_KEY":                bootstrap,
			"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		}
		var key string
		var browser, second *http.Client
		t.Run("FirstProcess", func(t *testing.T) {
			svc := startService(t, env, consoleConfig(recv.srv.URL)) // stopped when this subtest ends
			r := rest(t, "POST", svc.httpURL+"/v1/keys", bootstrap, map[string]any{"name": "operator"})
			if r.status != 200 {
				t.Fatalf("POST /v1/keys: %d %s", r.status, r.body)
			}
			key = r.json(t)["key"].(string)
			browser, second = consoleLogin(t, svc.httpURL, key), consoleLogin(t, svc.httpURL, key)
			consoleGet(t, browser, svc.httpURL+"/console/")
			u, _ := url.Parse(svc.httpURL + "/console/")
			for _, c := range browser.Jar.Cookies(u) {
				if strings.Contains(c.Value, key[len(apikey.KeyPrefix):]) || !strings.HasPrefix(c.Value, apikey.SessionPrefix) {
					t.Errorf("cookie %s = %q, want a session token and never the key", c.Name, c.Value)
				}
			}
		})
		if t.Failed() {
			return
		}

		svc := startService(t, env, consoleConfig(recv.srv.URL))
		page := consoleGet(t, browser, svc.httpURL+"/console/")
		if !strings.Contains(page, `action="/console/logout"`) {
			t.Fatalf("after a restart the console did not keep the login:\n%s", page)
		}
		// On PostgreSQL several processes share one store: each serves
		// every login, and a logout in one is a logout in all.
		var peer *service
		if strings.HasPrefix(dbURL, "postgres") {
			peer = startService(t, env, consoleConfig(recv.srv.URL))
			consoleGet(t, browser, peer.httpURL+"/console/")
		}
		// Logout ends the session in the store, not only in this browser.
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
		if csrf == nil {
			t.Fatal("no CSRF token on the page")
		}
		u, _ := url.Parse(svc.httpURL + "/console/")
		stolen := browser.Jar.Cookies(u)
		if resp := consolePost(t, browser, svc.httpURL, "/console/logout", url.Values{"csrf": {csrf[1]}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
			t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		replay := &http.Client{Jar: newJar(t), CheckRedirect: browser.CheckRedirect}
		replay.Jar.SetCookies(u, stolen)
		if resp := consoleStatus(t, replay, svc.httpURL+"/console/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
			t.Errorf("the logged-out session's cookie, replayed: %d to %q, want a redirect to the login page", resp.StatusCode, resp.Header.Get("Location"))
		}
		if peer != nil {
			if resp := consoleStatus(t, replay, peer.httpURL+"/console/"); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("the logged-out session in another process: %d, want a redirect to the login page", resp.StatusCode)
			}
		}
		// Revoking the key ends its other session at once.
		consoleGet(t, second, svc.httpURL+"/console/")
		keyID := rest(t, "GET", svc.httpURL+"/v1/whoami", key, nil).json(t)["keyId"].(string)
		if r := rest(t, "POST", svc.httpURL+"/v1/keys/"+keyID+":revoke", bootstrap, map[string]any{}); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		if resp := consoleStatus(t, second, svc.httpURL+"/console/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
			t.Errorf("a session of a revoked key: %d to %q, want a redirect to the login page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func newJar(t *testing.T) http.CookieJar {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}

// consolePost submits a console form from a page of base.
func consolePost(t *testing.T, c *http.Client, base, path string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// consoleStatus GETs a console page for its status and redirect.
func consoleStatus(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
