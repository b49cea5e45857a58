package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func TestTraceParentRoundTrip(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled} {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags})
		ctx := trace.ContextWithSpanContext(context.Background(), sc)

		got := TraceParent(ctx)
		// The W3C propagator on its usual carrier is the reference.
		want := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, want)
		if got != want["traceparent"] || got == "" {
			t.Fatalf("TraceParent = %q, want %q", got, want["traceparent"])
		}
		back := SpanContext(got)
		if back.TraceID() != tid || back.SpanID() != sid || back.IsSampled() != sc.IsSampled() || !back.IsRemote() {
			t.Errorf("SpanContext(%q) = %+v, want the span %v/%v sampled=%v, remote", got, back, tid, sid, sc.IsSampled())
		}
	}
	if got := TraceParent(context.Background()); got != "" {
		t.Errorf("TraceParent without a span = %q, want empty", got)
	}
}

func TestSpanContextRejectsMalformed(t *testing.T) {
	for _, s := range []string{
		"",
		"garbage",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",          // no flags
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",       // zero trace id
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       // upper case
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       // forbidden version
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // version 00 has no more fields
	} {
		if sc := SpanContext(s); sc.IsValid() {
			t.Errorf("SpanContext(%q) = %v, want invalid", s, sc)
		}
	}
}
