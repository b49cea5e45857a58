package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/apikey"
)

var funcs = template.FuncMap{
	// can reports whether scope may call the method ("JobService/RetryJob"):
	// the pages show an action only to a key that may take it (the API
	// refuses the others anyway), by the API's own table of scopes.
	"can": func(scope, method string) bool {
		return apikey.Authorize(apikey.Scope(scope), "/dispatchd.v1."+method) == nil
	},
	"time": func(t *timestamppb.Timestamp) string {
		if t == nil || (t.GetSeconds() == 0 && t.GetNanos() == 0) {
			return "—"
		}
		return t.AsTime().UTC().Format("2006-01-02 15:04:05")
	},
	"ms": func(d *durationpb.Duration) string {
		if d == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f ms", float64(d.AsDuration().Microseconds())/1000)
	},
	// wait shows a Retry-After as the receiver would write it, in seconds.
	"wait": func(d *durationpb.Duration) string {
		return d.AsDuration().Round(time.Second).String()
	},
	"us": func(us int64) string { return fmt.Sprintf("%.1f ms", float64(us)/1000) },
	"state": func(s dispatchdv1.JobState) string {
		return strings.ToLower(strings.TrimPrefix(s.String(), "JOB_STATE_"))
	},
	"json": func(v any) string {
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	},
	"str":   func(b []byte) string { return string(b) },
	"trace": func(tmpl, id string) string { return strings.ReplaceAll(tmpl, "{traceId}", id) },
}

var jobStates = []string{"scheduled", "available", "running", "retrying", "completed", "dead", "cancelled"}

func stateValue(s string) dispatchdv1.JobState {
	return dispatchdv1.JobState(dispatchdv1.JobState_value["JOB_STATE_"+strings.ToUpper(s)])
}

// chart is a server-drawn SVG bar chart: no script needed to see it.
type chart struct {
	Title  string
	Width  int
	Height int
	Bars   []bar
	Max    int64
	Legend []legend
}

type bar struct {
	X, Y, W, H int
	Class      string
	Label      string
}

type legend struct{ Class, Label string }

// stackChart draws two stacked series per point (ok below, bad above).
func stackChart(title string, pts []*dispatchdv1.StatsPoint, ok, bad func(*dispatchdv1.StatsPoint) int64, okLabel, badLabel string) chart {
	c := chart{Title: title, Width: 600, Height: 120, Legend: []legend{{"ok", okLabel}, {"bad", badLabel}}}
	for _, p := range pts {
		if n := ok(p) + bad(p); n > c.Max {
			c.Max = n
		}
	}
	if len(pts) == 0 {
		return c
	}
	w := c.Width / len(pts)
	scale := func(n int64) int {
		if c.Max == 0 {
			return 0
		}
		return int(n * int64(c.Height-10) / c.Max)
	}
	for i, p := range pts {
		at := p.GetAt().AsTime().UTC().Format("15:04")
		ho, hb := scale(ok(p)), scale(bad(p))
		x := i * w
		c.Bars = append(c.Bars,
			bar{X: x, Y: c.Height - ho, W: max(w-1, 1), H: ho, Class: "ok", Label: fmt.Sprintf("%s %s: %d", at, okLabel, ok(p))},
			bar{X: x, Y: c.Height - ho - hb, W: max(w-1, 1), H: hb, Class: "bad", Label: fmt.Sprintf("%s %s: %d", at, badLabel, bad(p))})
	}
	return c
}

func received(p *dispatchdv1.StatsPoint) int64 { return p.GetReceived()["accepted"] }
func refused(p *dispatchdv1.StatsPoint) int64 {
	var n int64
	for k, v := range p.GetReceived() {
		if k != "accepted" && k != "duplicate" {
			n += v
		}
	}
	return n
}
func delivered(p *dispatchdv1.StatsPoint) int64 { return p.GetDeliveries()["completed"] }
func failed(p *dispatchdv1.StatsPoint) int64 {
	var n int64
	for k, v := range p.GetDeliveries() {
		if k != "completed" {
			n += v
		}
	}
	return n
}

func sum(pts []*dispatchdv1.StatsPoint, f func(*dispatchdv1.StatsPoint) int64) int64 {
	var n int64
	for _, p := range pts {
		n += f(p)
	}
	return n
}

func (c *Console) overview(w http.ResponseWriter, r *request) {
	st, err := c.stats.GetStats(r.ctx, &dispatchdv1.GetStatsRequest{Window: "1h"})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	eps, err := c.endpoints.ListEndpoints(r.ctx, &dispatchdv1.ListEndpointsRequest{})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	var attention []*dispatchdv1.Endpoint
	for _, e := range eps.GetEndpoints() {
		if e.GetPaused() || e.GetDisabledAt() != nil || e.GetFailingSince() != nil {
			attention = append(attention, e)
		}
	}
	pts := st.GetPoints()
	c.render(w, r, "overview", "Overview", map[string]any{
		"Stats":      st,
		"Webhooks":   stackChart("Webhooks per minute", pts, received, refused, "accepted", "refused"),
		"Deliveries": stackChart("Deliveries per minute", pts, delivered, failed, "succeeded", "failed"),
		"Received":   sum(pts, received), "Refused": sum(pts, refused), "Delivered": sum(pts, delivered), "Failed": sum(pts, failed),
		"Attention": attention,
	})
}

func (c *Console) requestList(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	resp, err := c.requests.ListRequests(r.ctx, &dispatchdv1.ListRequestsRequest{Source: q.Get("source"), Outcome: q.Get("outcome"), PageToken: q.Get("before")})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	c.render(w, r, "requests", "Inbound", map[string]any{
		"Requests": resp.GetRequests(), "Next": resp.GetNextPageToken(), "Source": q.Get("source"), "Outcome": q.Get("outcome"),
		"Outcomes": []string{"accepted", "duplicate", "unauthorized", "too_large", "invalid", "rate_limited", "unknown_source", "unavailable"},
	})
}

// requestsJSON is what the live inbound view polls: requests newer than
// ?after, as JSON the script turns into rows (with textContent: nothing
// it receives is ever parsed as HTML).
func (c *Console) requestsJSON(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	resp, err := c.requests.ListRequests(r.ctx, &dispatchdv1.ListRequestsRequest{Source: q.Get("source"), Outcome: q.Get("outcome"), AfterRequestId: q.Get("after"), PageSize: 100})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	type row struct {
		ID, Time, Source, Outcome, Reason, Remote string
		Status                                    int32
		Size                                      int64
	}
	rows := []row{}
	for _, x := range resp.GetRequests() {
		rows = append(rows, row{ID: x.GetRequestId(), Time: funcs["time"].(func(*timestamppb.Timestamp) string)(x.GetReceivedAt()),
			Source: x.GetSource(), Outcome: x.GetOutcome(), Reason: x.GetReason(), Remote: x.GetRemoteAddr(), Status: x.GetStatusCode(), Size: x.GetSize()})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rows)
}

func (c *Console) requestDetail(w http.ResponseWriter, r *request) {
	resp, err := c.requests.GetRequest(r.ctx, &dispatchdv1.GetRequestRequest{RequestId: r.PathValue("id")})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	req := resp.GetRequest()
	var names []string
	for k := range req.GetHeaders() {
		names = append(names, k)
	}
	sort.Strings(names)
	c.render(w, r, "request", "Request "+req.GetRequestId(), map[string]any{"R": req, "HeaderNames": names})
}

// jobFilter reads the jobs filter of a query or a form.
func jobFilter(get func(string) string) (*dispatchdv1.JobFilter, map[string]string) {
	vals := map[string]string{}
	for _, k := range []string{"state", "endpoint", "source", "after", "before", "text"} {
		vals[k] = strings.TrimSpace(get(k))
	}
	f := &dispatchdv1.JobFilter{State: stateValue(vals["state"]), Endpoint: vals["endpoint"], Source: vals["source"]}
	f.CreatedAfter, f.CreatedBefore = parseTime(vals["after"]), parseTime(vals["before"])
	return f, vals
}

// parseTime reads a time field of a filter form (datetime-local gives
// "2006-01-02T15:04", taken as UTC); nil when empty or not a time.
func parseTime(s string) *timestamppb.Timestamp {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return timestamppb.New(t)
		}
	}
	return nil
}

func (c *Console) jobList(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	f, vals := jobFilter(q.Get)
	resp, err := c.jobs.ListJobs(r.ctx, &dispatchdv1.ListJobsRequest{
		State: f.GetState(), Endpoint: f.GetEndpoint(), Source: f.GetSource(), CreatedAfter: f.GetCreatedAfter(), CreatedBefore: f.GetCreatedBefore(),
		Text: vals["text"], PageToken: q.Get("page"),
	})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	next := ""
	if tok := resp.GetNextPageToken(); tok != "" {
		nq := r.URL.Query()
		nq.Set("page", tok)
		next = "/console/jobs?" + nq.Encode()
	}
	c.render(w, r, "jobs", "Jobs", map[string]any{"Jobs": resp.GetJobs(), "Next": next, "F": vals, "States": jobStates, "Back": r.URL.RequestURI(),
		"Searched": resp.GetSearched()})
}

var bulkActions = map[string]dispatchdv1.BulkAction{
	"retry": dispatchdv1.BulkAction_BULK_ACTION_RETRY, "cancel": dispatchdv1.BulkAction_BULK_ACTION_CANCEL, "replay": dispatchdv1.BulkAction_BULK_ACTION_REPLAY,
}

// bulk runs a dry run first and shows its count; only the confirmation
// form (confirm=yes) changes jobs.
func (c *Console) bulk(w http.ResponseWriter, r *request) {
	f, vals := jobFilter(r.PostFormValue)
	action, ok := bulkActions[r.PostFormValue("action")]
	if !ok {
		c.back(w, r, "/console/jobs", "Choose retry, cancel or replay.")
		return
	}
	confirm := r.PostFormValue("confirm") == "yes"
	resp, err := c.jobs.BulkJobs(r.ctx, &dispatchdv1.BulkJobsRequest{Filter: f, Action: action, DryRun: !confirm})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	if confirm {
		c.back(w, r, "/console/jobs", fmt.Sprintf("%s: %d jobs matched, %d changed.", r.PostFormValue("action"), resp.GetMatched(), resp.GetAffected()))
		return
	}
	c.render(w, r, "bulk", "Confirm", map[string]any{"Action": r.PostFormValue("action"), "Matched": resp.GetMatched(), "F": vals, "Back": r.PostFormValue("back")})
}

func (c *Console) jobDetail(w http.ResponseWriter, r *request) {
	id := r.PathValue("id")
	j, err := c.jobs.GetJob(r.ctx, &dispatchdv1.GetJobRequest{JobId: id})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	atts, err := c.jobs.ListAttempts(r.ctx, &dispatchdv1.ListAttemptsRequest{JobId: id})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	c.render(w, r, "job", "Job "+id, map[string]any{"J": j.GetJob(), "Attempts": atts.GetAttempts(), "TraceURL": c.o.TraceURL, "Back": r.URL.RequestURI()})
}

func (c *Console) jobAction(w http.ResponseWriter, r *request) {
	id := r.PathValue("id")
	var err error
	switch r.PathValue("action") {
	case "retry":
		_, err = c.jobs.RetryJob(r.ctx, &dispatchdv1.RetryJobRequest{JobId: id})
	case "cancel":
		_, err = c.jobs.CancelJob(r.ctx, &dispatchdv1.CancelJobRequest{JobId: id})
	default:
		http.NotFound(w, r.Request)
		return
	}
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	c.back(w, r, "/console/jobs/"+id, "Job "+id+": "+r.PathValue("action")+" done.")
}

// endpointHealth is one endpoint's row on the endpoints page.
type endpointHealth struct {
	E           *dispatchdv1.Endpoint
	Stats       *dispatchdv1.GetStatsResponse
	SuccessRate string
	Spark       chart
}

func (c *Console) endpointList(w http.ResponseWriter, r *request) {
	eps, err := c.endpoints.ListEndpoints(r.ctx, &dispatchdv1.ListEndpointsRequest{})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	var rows []endpointHealth
	for _, e := range eps.GetEndpoints() {
		st, err := c.stats.GetStats(r.ctx, &dispatchdv1.GetStatsRequest{Endpoint: e.GetName(), Window: "24h"})
		if err != nil {
			c.apiError(w, r, err)
			return
		}
		ok, bad := sum(st.GetPoints(), delivered), sum(st.GetPoints(), failed)
		rate := "—"
		if ok+bad > 0 {
			rate = fmt.Sprintf("%.1f %%", 100*float64(ok)/float64(ok+bad))
		}
		spark := stackChart("", st.GetPoints(), delivered, failed, "succeeded", "failed")
		rows = append(rows, endpointHealth{E: e, Stats: st, SuccessRate: rate, Spark: spark})
	}
	c.render(w, r, "endpoints", "Endpoints", map[string]any{"Endpoints": rows, "Back": r.URL.RequestURI()})
}

func (c *Console) endpointAction(w http.ResponseWriter, r *request) {
	name := r.PathValue("name")
	var err error
	msg, secret := "", ""
	switch r.PathValue("action") {
	case "pause":
		_, err = c.endpoints.PauseEndpoint(r.ctx, &dispatchdv1.PauseEndpointRequest{Name: name})
		msg = "Endpoint " + name + " paused."
	case "resume":
		_, err = c.endpoints.ResumeEndpoint(r.ctx, &dispatchdv1.ResumeEndpointRequest{Name: name})
		msg = "Endpoint " + name + " resumed."
	case "rotate":
		var resp *dispatchdv1.RotateEndpointSecretResponse
		resp, err = c.endpoints.RotateEndpointSecret(r.ctx, &dispatchdv1.RotateEndpointSecretRequest{Name: name})
		msg, secret = "New secret of "+name+" (shown once; the old one keeps signing during the grace period):", resp.GetSecret()
	case "test":
		var resp *dispatchdv1.TestEndpointResponse
		resp, err = c.endpoints.TestEndpoint(r.ctx, &dispatchdv1.TestEndpointRequest{Name: name})
		a := resp.GetAttempt()
		msg = fmt.Sprintf("Test send to %s: %s, status %d %s", name, a.GetOutcome(), a.GetStatusCode(), a.GetErrorClass())
	case "replay":
		since, perr := time.Parse("2006-01-02T15:04", r.PostFormValue("since"))
		if perr != nil {
			since = time.Time{}
		}
		req := &dispatchdv1.BulkJobsRequest{Filter: &dispatchdv1.JobFilter{Endpoint: name}, Action: dispatchdv1.BulkAction_BULK_ACTION_REPLAY}
		if !since.IsZero() {
			req.Filter.CreatedAfter = timestamppb.New(since)
		}
		var resp *dispatchdv1.BulkJobsResponse
		resp, err = c.jobs.BulkJobs(r.ctx, req)
		msg = fmt.Sprintf("Replayed %d dead jobs of %s.", resp.GetAffected(), name)
	default:
		http.NotFound(w, r.Request)
		return
	}
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	if secret != "" {
		c.reveal(w, r, c.endpointList, msg, secret)
		return
	}
	c.back(w, r, "/console/endpoints", msg)
}

func (c *Console) sourceList(w http.ResponseWriter, r *request) {
	srcs, err := c.sources.ListSources(r.ctx, &dispatchdv1.ListSourcesRequest{})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	type row struct {
		S                 *dispatchdv1.Source
		URL               string
		Accepted, Refused int64
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var rows []row
	for _, s := range srcs.GetSources() {
		st, err := c.stats.GetStats(r.ctx, &dispatchdv1.GetStatsRequest{Source: s.GetName(), Window: "24h"})
		if err != nil {
			c.apiError(w, r, err)
			return
		}
		rows = append(rows, row{S: s, URL: scheme + "://" + r.Host + "/v1/webhooks/" + s.GetName(), Accepted: sum(st.GetPoints(), received), Refused: sum(st.GetPoints(), refused)})
	}
	c.render(w, r, "sources", "Sources", map[string]any{"Sources": rows})
}

// sourceTest runs a pasted webhook through the source's checks without
// storing it. Headers are "Name: value" lines.
func (c *Console) sourceTest(w http.ResponseWriter, r *request) {
	headers := map[string]string{}
	for _, line := range strings.Split(r.PostFormValue("headers"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	resp, err := c.sources.TestSource(r.ctx, &dispatchdv1.TestSourceRequest{Name: r.PathValue("name"), Body: []byte(r.PostFormValue("body")), Headers: headers})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	msg := "Accepted (delivery id " + resp.GetDeliveryId() + "); nothing was stored."
	if !resp.GetAccepted() {
		msg = "Refused: " + resp.GetCode() + ": " + resp.GetMessage()
	}
	c.back(w, r, "/console/sources", msg)
}

func (c *Console) keyList(w http.ResponseWriter, r *request) {
	ks, err := c.keys.ListKeys(r.ctx, &dispatchdv1.ListKeysRequest{})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	c.render(w, r, "keys", "API keys", map[string]any{"Keys": ks.GetKeys()})
}

func (c *Console) keyCreate(w http.ResponseWriter, r *request) {
	resp, err := c.keys.CreateKey(r.ctx, &dispatchdv1.CreateKeyRequest{Name: r.PostFormValue("name"), DefaultEndpoint: r.PostFormValue("default_endpoint")})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	c.reveal(w, r, c.keyList, "Key "+resp.GetApiKey().GetName()+" created. Copy it now: it is not shown again.", resp.GetKey())
}

func (c *Console) keyRevoke(w http.ResponseWriter, r *request) {
	if _, err := c.keys.RevokeKey(r.ctx, &dispatchdv1.RevokeKeyRequest{KeyId: r.PathValue("id")}); err != nil {
		c.apiError(w, r, err)
		return
	}
	c.back(w, r, "/console/keys", "Key "+r.PathValue("id")+" revoked.")
}

func (c *Console) auditList(w http.ResponseWriter, r *request) {
	resp, err := c.audit.ListAuditEntries(r.ctx, &dispatchdv1.ListAuditEntriesRequest{PageToken: r.URL.Query().Get("before")})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	c.render(w, r, "audit", "Audit log", map[string]any{"Entries": resp.GetEntries(), "Next": resp.GetNextPageToken()})
}
