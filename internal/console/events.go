package console

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
)

// The events view: stored events (accepted webhooks and published
// events) by source, type, delivery id and time, and one event with its
// headers (credentials were removed before it was stored), body and jobs.

func (c *Console) eventList(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	vals := map[string]string{}
	for _, k := range []string{"source", "type", "delivery", "after", "before"} {
		vals[k] = strings.TrimSpace(q.Get(k))
	}
	req := &dispatchdv1.ListEventsRequest{
		Source: vals["source"], Type: vals["type"], DeliveryId: vals["delivery"],
		ReceivedAfter: parseTime(vals["after"]), ReceivedBefore: parseTime(vals["before"]), PageToken: q.Get("page"),
	}
	resp, err := c.events.ListEvents(r.ctx, req)
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	next := ""
	if tok := resp.GetNextPageToken(); tok != "" {
		nq := url.Values{}
		for k, v := range vals {
			if v != "" {
				nq.Set(k, v)
			}
		}
		nq.Set("page", tok)
		next = "/console/events?" + nq.Encode()
	}
	c.render(w, r, "events", "Events", map[string]any{"Events": resp.GetEvents(), "Next": next, "F": vals})
}

func (c *Console) eventDetail(w http.ResponseWriter, r *request) {
	resp, err := c.events.GetEvent(r.ctx, &dispatchdv1.GetEventRequest{EventId: r.PathValue("id")})
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	e := resp.GetEvent()
	names := make([]string, 0, len(e.GetHeaders()))
	for k := range e.GetHeaders() {
		names = append(names, k)
	}
	sort.Strings(names)
	c.render(w, r, "event", "Event "+e.GetId(), map[string]any{"E": e, "Jobs": resp.GetJobs(), "HeaderNames": names})
}
