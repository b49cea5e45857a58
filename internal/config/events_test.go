package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

const eventsEndpoint = `
endpoints:
  - name: orders
    url: https://orders.example/hook
    secret: a-secret-of-16-chars
`

func TestEventsInTheFile(t *testing.T) {
	f, err := ParseFile([]byte(eventsEndpoint+`
    event_types: ["order.*"]
    filter: payload.amount > 100.0
    transform: '{"id": payload.id}'
    payload_format: standard-webhooks
event_types:
  - name: order.created
    schema: {type: object, required: [id]}
sources:
  - name: shop
    verify: {scheme: none}
    event_type: {json: /type}
    routes:
      - orders
      - {subscribers: true, filter: 'type != "order.test"'}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := f.Sources[0].Spec()
	if diff := cmp.Diff(job.SourceSpec{
		Name: "shop", Scheme: "none", MaxBodyBytes: job.DefaultMaxBodyBytes, ContentTypes: []string{"application/json"},
		Routes:     []string{"orders"},
		RouteRules: []job.RouteRule{{Subscribers: true, Filter: `type != "order.test"`}},
		EventType:  &job.ValueRef{JSON: "/type"},
	}, spec); diff != "" {
		t.Errorf("source spec (-want +got):\n%s", diff)
	}
	ep := f.Endpoints[0].Spec()
	if ep.Filter == "" || ep.Transform == "" || ep.PayloadFormat != job.PayloadStandardWebhooks || len(ep.EventTypes) != 1 {
		t.Errorf("endpoint spec: %+v", ep)
	}
	if got := f.EventTypeSpecs(); len(got) != 1 || string(got[0].Schema) != `{"required":["id"],"type":"object"}` {
		t.Errorf("event types: %+v", got)
	}
}

func TestEventsInTheFileRefused(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want []string
	}{
		{eventsEndpoint + "    event_types: [order.*]\n    filter: payload.amount >\n", []string{"endpoints[0] (orders).filter", "1:17"}},
		{eventsEndpoint + "    event_types: [order.*]\n    transform: paylod.id\n", []string{"endpoints[0] (orders).transform", "1:1: undeclared reference to 'paylod'"}},
		{eventsEndpoint + "    filter: type == \"x\"\n", []string{"set event_types too"}},
		{eventsEndpoint + "    event_types: [order*]\n", []string{"endpoints[0] (orders).event_types[0]", "whole segment"}},
		{eventsEndpoint + "    payload_format: xml\n", []string{"endpoints[0] (orders).payload_format", "standard-webhooks"}},
		{eventsEndpoint + "sources:\n  - name: s\n    verify: {scheme: none}\n    routes: [{endpoint: orders, filter: 'payload.x +'}]\n", []string{"sources[0] (s).routes[0].filter"}},
		{eventsEndpoint + "sources:\n  - name: s\n    verify: {scheme: none}\n    routes: [{subscribers: true, transform: 'payload'}]\n", []string{"sources[0] (s).routes[0].transform"}},
		{eventsEndpoint + "sources:\n  - name: s\n    verify: {scheme: none}\n    routes: [{endpoint: orders, filtr: 'true'}]\n", []string{`unknown key "filtr"`}},
		{eventsEndpoint + "event_types:\n  - name: a.b\n    schema: {type: 12}\n", []string{"event_types[0].schema"}},
		{eventsEndpoint + "event_types:\n  - name: 'a.*'\n", []string{"event_types[0].name"}},
	} {
		_, err := ParseFile([]byte(c.yaml), nil)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s\nerror %v; want it to contain %q", c.yaml, err, w)
			}
		}
	}
}
