// Package console serves the web console at /console/: server-rendered
// pages over the public gRPC API. Every page calls the API with the
// session's token (disp_s_…, made by the API at login, standing for the key
// typed there; the store keeps its hash) as "authorization" metadata,
// through the same interceptors as any client, so authentication, scopes
// and the audit log apply to the console exactly as to a script. The
// console keeps no state of its own: any gateway process serves any login.
//
// Secure by default: nothing but the login page without a session (an
// HttpOnly, SameSite=Strict cookie, Secure under TLS, expiring on the
// server); every POST carries the session's CSRF token and a same-origin
// Origin; a strict Content-Security-Policy allows only the console's own
// script and style; the only secret ever rendered is one just generated,
// shown once.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// csp allows the console's own script, style and nothing else: no inline
// script, no other origin, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Options are what the console needs.
type Options struct {
	// API is a connection to the gRPC API (in memory in one process).
	API *grpc.ClientConn
	// TraceURL links a job's trace id to a tracing UI: a template with
	// {traceId} (DISPATCHD_TRACE_URL); empty: no link.
	TraceURL string
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	Now        func() time.Time
	Log        *slog.Logger
}

// Console is the console's handler.
type Console struct {
	o         Options
	pages     map[string]*template.Template
	jobs      dispatchdv1.JobServiceClient
	endpoints dispatchdv1.EndpointServiceClient
	sources   dispatchdv1.SourceServiceClient
	keys      dispatchdv1.KeyServiceClient
	requests  dispatchdv1.RequestServiceClient
	stats     dispatchdv1.StatsServiceClient
	audit     dispatchdv1.AuditServiceClient
	events    dispatchdv1.EventServiceClient
	mux       *http.ServeMux
}

// New returns the console, to be served under /console/.
func New(o Options) (*Console, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = 12 * time.Hour
	}
	c := &Console{
		o: o, pages: map[string]*template.Template{},
		jobs: dispatchdv1.NewJobServiceClient(o.API), endpoints: dispatchdv1.NewEndpointServiceClient(o.API),
		sources: dispatchdv1.NewSourceServiceClient(o.API), keys: dispatchdv1.NewKeyServiceClient(o.API),
		requests: dispatchdv1.NewRequestServiceClient(o.API), stats: dispatchdv1.NewStatsServiceClient(o.API),
		audit: dispatchdv1.NewAuditServiceClient(o.API), events: dispatchdv1.NewEventServiceClient(o.API),
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	static, _ := fs.Sub(staticFS, "static")
	m := http.NewServeMux()
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.auth(c.logout))
	m.HandleFunc("GET /console/{$}", c.auth(c.overview))
	m.HandleFunc("GET /console/requests", c.auth(c.requestList))
	m.HandleFunc("GET /console/requests.json", c.auth(c.requestsJSON))
	m.HandleFunc("GET /console/requests/{id}", c.auth(c.requestDetail))
	m.HandleFunc("GET /console/events", c.auth(c.eventList))
	m.HandleFunc("GET /console/events/{id}", c.auth(c.eventDetail))
	m.HandleFunc("GET /console/jobs", c.auth(c.jobList))
	m.HandleFunc("POST /console/jobs/bulk", c.auth(c.bulk))
	m.HandleFunc("GET /console/jobs/{id}", c.auth(c.jobDetail))
	m.HandleFunc("POST /console/jobs/{id}/{action}", c.auth(c.jobAction))
	m.HandleFunc("GET /console/endpoints", c.auth(c.endpointList))
	m.HandleFunc("POST /console/endpoints/{name}/{action}", c.auth(c.endpointAction))
	m.HandleFunc("GET /console/sources", c.auth(c.sourceList))
	m.HandleFunc("POST /console/sources/{name}/test", c.auth(c.sourceTest))
	m.HandleFunc("GET /console/keys", c.auth(c.keyList))
	m.HandleFunc("POST /console/keys", c.auth(c.keyCreate))
	m.HandleFunc("POST /console/keys/{id}/revoke", c.auth(c.keyRevoke))
	m.HandleFunc("GET /console/audit", c.auth(c.auditList))
	c.mux = m
	return c, nil
}

// ServeHTTP implements http.Handler: security headers on every answer.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost && !sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// sameOrigin reports whether a POST comes from a page of this host: the
// browser's Origin (or, without one, Referer) names it.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Referer")
	}
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// request is what a handler gets: the session and a context that carries
// its token to the API.
type request struct {
	*http.Request
	sess *session
	ctx  context.Context
	// flash and flashSecret, when set, are shown on the page rendered in
	// this answer: a one-time secret is never kept for a later one.
	flash, flashSecret string
}

// withSession returns ctx carrying the session token to the API.
func withSession(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// lookup asks the API about the request's session: nil when there is no
// live one (and its cookie is then cleared). The API says whether it is
// live, and its scope, so that every process sees the same sessions.
func (c *Console) lookup(w http.ResponseWriter, r *http.Request) (*session, error) {
	token := sessionToken(r)
	if token == "" {
		return nil, nil
	}
	who, err := c.keys.WhoAmI(withSession(r.Context(), token), &dispatchdv1.WhoAmIRequest{})
	if status.Code(err) == codes.Unauthenticated {
		endSession(w, r)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &session{token: token, scope: who.GetScope(), csrf: csrfToken(token)}, nil
}

// auth lets only a live session in; a POST must carry its CSRF token.
func (c *Console) auth(h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := c.lookup(w, r)
		if err != nil {
			st, _ := status.FromError(err)
			c.renderPage(w, "error", page{Title: "Error", Error: "the session could not be checked: " + st.Message()}, http.StatusBadGateway)
			return
		}
		if sess == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".json") {
				http.Redirect(w, r, "/console/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && !validCSRF(sess, r.PostFormValue("csrf")) {
			http.Error(w, "the form's CSRF token is missing or stale; reload the page", http.StatusForbidden)
			return
		}
		h(w, &request{Request: r, sess: sess, ctx: withSession(r.Context(), sess.token)})
	}
}

// page is what every template gets.
type page struct {
	Title       string
	Nav         string
	CSRF        string
	Scope       string // the session key's scope, for the "can" function
	Flash       string
	FlashSecret string
	Error       string
	Data        any
}

func (c *Console) render(w http.ResponseWriter, r *request, name, title string, data any) {
	p := page{Title: title, Nav: name, Data: data}
	if r != nil {
		p.CSRF, p.Scope = r.sess.csrf, r.sess.scope
		p.Flash, p.FlashSecret = r.flash, r.flashSecret
		if p.Flash == "" {
			p.Flash = takeFlash(w, r.Request)
		}
	}
	c.renderPage(w, name, p, http.StatusOK)
}

func (c *Console) renderPage(w http.ResponseWriter, name string, p page, code int) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.Execute(&b, p); err != nil {
		c.o.Log.Error("console: render", "page", name, "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, b.String())
}

// apiError shows what the API answered, as the API said it.
func (c *Console) apiError(w http.ResponseWriter, r *request, err error) {
	st, _ := status.FromError(err)
	code := http.StatusBadGateway
	switch st.Code() {
	case codes.Unauthenticated:
		endSession(w, r.Request)
		http.Redirect(w, r.Request, "/console/login", http.StatusSeeOther)
		return
	case codes.PermissionDenied:
		code = http.StatusForbidden
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.InvalidArgument, codes.FailedPrecondition:
		code = http.StatusBadRequest
	}
	c.renderPage(w, "error", page{Title: "Error", CSRF: r.sess.csrf, Error: st.Message()}, code)
}

// back redirects to where the form was (its "back" field, a console path)
// with a message for the next page.
func (c *Console) back(w http.ResponseWriter, r *request, fallback, msg string) {
	setFlash(w, r.Request, msg)
	to := r.PostFormValue("back")
	if !strings.HasPrefix(to, "/console/") || strings.HasPrefix(to, "//") || strings.Contains(to, "\\") {
		to = fallback
	}
	http.Redirect(w, r.Request, to, http.StatusSeeOther)
}

// reveal answers an action that made a secret with the page view, showing
// msg and the secret once: the secret goes from the API's answer to this
// page and is kept nowhere.
func (c *Console) reveal(w http.ResponseWriter, r *request, view func(http.ResponseWriter, *request), msg, secret string) {
	r.flash, r.flashSecret = msg, secret
	view(w, r)
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if sess, _ := c.lookup(w, r); sess != nil {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.renderPage(w, "login", page{Title: "Log in"}, http.StatusOK)
}

// login starts a session with the key (KeyService.CreateSession, which
// any valid key may call) and keeps only the session's token, in the
// cookie. The login form needs no CSRF token: SameSite=Strict and the
// Origin check stop a cross-site form, and a forged login would only log
// the victim in with the forger's key.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key == "" {
		c.renderPage(w, "login", page{Title: "Log in", Error: "Paste an API key (disp_k1_…)."}, http.StatusUnauthorized)
		return
	}
	ctx := metadata.AppendToOutgoingContext(r.Context(), "authorization", "Bearer "+key)
	resp, err := c.keys.CreateSession(ctx, &dispatchdv1.CreateSessionRequest{TtlSeconds: int64(c.o.SessionTTL / time.Second)})
	if err != nil {
		st, _ := status.FromError(err)
		code := http.StatusBadGateway
		switch {
		case st.Code() == codes.Unauthenticated || st.Code() == codes.FailedPrecondition || st.Code() == codes.ResourceExhausted:
			code = http.StatusUnauthorized
		case errors.Is(err, context.Canceled):
			return
		}
		c.renderPage(w, "login", page{Title: "Log in", Error: st.Message()}, code)
		return
	}
	startSession(w, r, resp.GetSessionToken(), resp.GetExpiresAt().AsTime(), c.o.Now())
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// logout ends the session in the store, so that its token is refused
// everywhere at once, then clears the cookie.
func (c *Console) logout(w http.ResponseWriter, r *request) {
	if _, err := c.keys.DeleteSession(r.ctx, &dispatchdv1.DeleteSessionRequest{}); err != nil && status.Code(err) != codes.Unauthenticated {
		c.apiError(w, r, err)
		return
	}
	endSession(w, r.Request)
	http.Redirect(w, r.Request, "/console/login", http.StatusSeeOther)
}
