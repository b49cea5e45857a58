package route

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/job"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, typ string
		want         bool
	}{
		{"order.created", "order.created", true},
		{"order.created", "order.updated", false},
		{"order.*", "order.created", true},
		{"order.*", "order.line.added", true},
		{"order.*", "order", false},
		{"order.*", "orders.created", false},
		{"*.created", "order.created", true},
		{"*.created", "order.line.created", false},
		{"*", "anything.at.all", true},
		{"order.*.added", "order.line.added", true},
		{"order.*.added", "order.line.removed", false},
		{"order", "order.created", false},
		{"order.*", "", false},
	} {
		if got := Match(c.pattern, c.typ); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.typ, got, c.want)
		}
	}
	for _, bad := range []string{"", "order.", "order*", "a..b"} {
		if CheckPattern(bad) == nil {
			t.Errorf("CheckPattern(%q) accepted it", bad)
		}
	}
}

func TestCompileErrorsGivePositions(t *testing.T) {
	for _, c := range []struct {
		expr, want string
	}{
		{"paylod.amount > 1", "1:1: undeclared reference to 'paylod'"},
		{"payload.amount >", "1:17:"},
		{`type + 1`, "no matching overload"},
		{`"order"`, "a filter must be a bool"},
	} {
		_, err := CompileFilter(c.expr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CompileFilter(%q) = %v, want an error with %q", c.expr, err, c.want)
		}
	}
}

func TestFilterAndTransform(t *testing.T) {
	f, err := CompileFilter(`payload.amount > 100.0 && type.startsWith("order.") && headers["x-env"] == "prod" && source == "shop"`)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Type: "order.created", Payload: map[string]any{"amount": 250.0}, Headers: map[string]string{"x-env": "prod"}, Source: "shop"}
	if ok, err := f.Match(in); !ok || err != nil {
		t.Errorf("Match = %v, %v; want true", ok, err)
	}
	in.Payload = map[string]any{"amount": 50.0}
	if ok, err := f.Match(in); ok || err != nil {
		t.Errorf("Match = %v, %v; want false", ok, err)
	}
	in.Payload = map[string]any{}
	if _, err := f.Match(in); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("Match on a payload without the field = %v; want a no such key error", err)
	}

	tr, err := CompileTransform(`{"id": payload.data.id, "total": payload.data.amount / 100.0, "tags": [type]}`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.Apply(Input{Type: "order.created", Payload: map[string]any{"data": map[string]any{"id": "o1", "amount": 2500.0}}})
	if err != nil {
		t.Fatal(err)
	}
	var got any
	json.Unmarshal(b, &got)
	if diff := cmp.Diff(map[string]any{"id": "o1", "total": 25.0, "tags": []any{"order.created"}}, got); diff != "" {
		t.Errorf("transform (-want +got):\n%s", diff)
	}
	// JSON numbers are doubles: dividing one by an int has no overload.
	if _, err := CompileTransform(`payload.amount / 100`); err != nil {
		t.Fatalf("dyn / int compiles (it fails at run time): %v", err)
	}
	bad, _ := CompileTransform(`payload.amount / 100`)
	if _, err := bad.Apply(Input{Payload: map[string]any{"amount": 5.0}}); err == nil {
		t.Errorf("double / int evaluated; CEL has no such overload")
	}
}

func TestCostLimit(t *testing.T) {
	f, err := CompileFilter(`payload.items.all(a, payload.items.all(b, payload.items.all(c, a + b + c >= 0.0)))`)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 200)
	for i := range items {
		items[i] = float64(i)
	}
	_, err = f.Match(Input{Payload: map[string]any{"items": items}})
	if err == nil || !strings.Contains(err.Error(), "cost") {
		t.Errorf("8 million steps = %v; want the cost limit", err)
	}
}

func TestRouteSubscribersOncePerEndpoint(t *testing.T) {
	table, errs := NewTable([]job.EndpointSpec{
		{Name: "a", EventTypes: []string{"order.*", "order.created"}},
		{Name: "b", EventTypes: []string{"invoice.*"}},
		{Name: "c", EventTypes: []string{"order.created"}, Filter: `payload.amount > 10.0`},
		{Name: "d", EventTypes: []string{"order.created"}, Transform: `payload.nope.x`},
		{Name: "std", EventTypes: []string{"order.*"}, PayloadFormat: job.PayloadStandardWebhooks},
	}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := &Event{Type: "order.created", Body: []byte(`{"amount": 5}`), JSON: true, ReceivedAt: at}
	got := table.Route(ev, []string{"a"}, []Rule{{Subscribers: true}})
	var names []string
	for _, tg := range got {
		names = append(names, tg.Endpoint)
	}
	if diff := cmp.Diff([]string{"a", "d", "std"}, names); diff != "" {
		t.Fatalf("targets (-want +got):\n%s", diff)
	}
	if got[0].Payload != nil || got[0].Err != nil {
		t.Errorf("a named route gets the body as it is: %+v", got[0])
	}
	if got[1].Err == nil {
		t.Errorf("d's transform fails on this event: %+v", got[1])
	}
	if want := `{"type":"order.created","timestamp":"2026-01-02T03:04:05Z","data":{"amount": 5}}`; string(got[2].Payload) != want {
		t.Errorf("standard-webhooks payload = %s, want %s", got[2].Payload, want)
	}
}

func TestSchemaNamesThePointer(t *testing.T) {
	s, err := CompileSchema([]byte(`{"type": "object", "properties": {"data": {"type": "object", "properties": {"amount": {"type": "integer", "minimum": 0}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(`{"data": {"amount": 5}}`)); err != nil {
		t.Errorf("valid body: %v", err)
	}
	err = s.Validate([]byte(`{"data": {"amount": -1}}`))
	if err == nil || !strings.HasPrefix(err.Error(), "/data/amount: ") {
		t.Errorf("invalid body: %v; want an error naming /data/amount", err)
	}
	if _, err := CompileSchema([]byte(`{"$ref": "https://example.com/schema.json"}`)); err == nil {
		t.Errorf("a schema referring to a URL compiled; it must not be fetched")
	}
}
