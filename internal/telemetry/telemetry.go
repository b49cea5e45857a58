// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// variables.
//
// A tracer provider is always installed, so trace context flows — from a
// provider's traceparent, through ingestion and storage, to the
// traceparent each delivery sends — whether or not anything is exported.
// An exporter runs only when OTEL_EXPORTER_OTLP_ENDPOINT (or its
// TRACES_ variant) is set, or OTEL_TRACES_EXPORTER=otlp; with nothing set
// nothing is exported and nothing fails.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry is the process's tracing setup.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Exporting names the exporter, or "" when spans are not exported.
	Exporting string
	shutdown  func(context.Context) error
}

// Shutdown flushes the spans not yet exported.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Propagator is W3C trace context and baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Setup reads the OTEL_* variables through getenv. The exporters read
// their other settings (headers, timeouts, TLS) from the process
// environment as the OpenTelemetry specification describes; the sampler
// follows OTEL_TRACES_SAMPLER (default: parent-based, always on).
func Setup(ctx context.Context, getenv func(string) string, version string) (*Telemetry, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("dispatchd"), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}

	exporter, err := newExporter(ctx, getenv)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{Propagator: Propagator()}
	if exporter != nil {
		opts = append(opts, sdktrace.WithBatcher(exporter))
		t.Exporting = protocol(getenv)
	} else if getenv("OTEL_TRACES_SAMPLER") == "" {
		// Nothing is exported: spans need not be recorded (that was 9 %
		// of the ingest path's CPU). They still get ids, so trace context
		// and traceparent headers flow; a caller's sampled trace is still
		// recorded, for in-process processors.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.TracerProvider, t.shutdown = tp, tp.Shutdown
	return t, nil
}

func protocol(getenv func(string) string) string {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
	}
	return "grpc"
}

// newExporter returns the OTLP exporter the variables ask for, or nil.
func newExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	signalEndpoint := endpoint != ""
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	switch kind := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); kind {
	case "none":
		return nil, nil
	case "", "otlp":
		if endpoint == "" && kind == "" {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: this build exports otlp (or none)", kind)
	}
	switch p := protocol(getenv); p {
	case "grpc":
		var opts []otlptracegrpc.Option
		if endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
		}
		return otlptracegrpc.New(ctx, opts...)
	case "http/protobuf":
		var opts []otlptracehttp.Option
		switch {
		case signalEndpoint:
			opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
		case endpoint != "":
			// The general endpoint is a base: traces go to /v1/traces.
			opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimRight(endpoint, "/")+"/v1/traces"))
		}
		return otlptracehttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: use grpc or http/protobuf", p)
	}
}

// Attributes dispatchd adds to its spans, beside the semantic conventions'.
const (
	AttrJobID         = attribute.Key("dispatchd.job_id")
	AttrAttemptNumber = attribute.Key("dispatchd.attempt_number")
	AttrEndpoint      = attribute.Key("dispatchd.endpoint")
	AttrSource        = attribute.Key("dispatchd.source")
	AttrBatchSize     = attribute.Key("dispatchd.commit.batch_size")
	AttrClaimed       = attribute.Key("dispatchd.claimed")
)

// TraceParent returns the W3C traceparent of the span in ctx, or "" when
// there is none. It is stored with each job, so that a delivery hours
// later still belongs to the webhook's trace.
func TraceParent(ctx context.Context) string {
	var c traceparentCarrier
	propagation.TraceContext{}.Inject(ctx, &c)
	return c.value
}

// SpanContext parses a stored traceparent; the result is invalid when the
// text is empty or malformed.
func SpanContext(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	c := traceparentCarrier{value: traceparent}
	ctx := propagation.TraceContext{}.Extract(context.Background(), &c)
	return trace.SpanContextFromContext(ctx)
}

// traceparentCarrier carries the traceparent header alone. Every job
// stored and every delivery reads or writes one; a carrier of its own
// spares the map a propagation.MapCarrier allocates each time (profiled
// on the worker's delivery path).
type traceparentCarrier struct{ value string }

func (c *traceparentCarrier) Get(key string) string {
	if key == "traceparent" {
		return c.value
	}
	return ""
}

func (c *traceparentCarrier) Set(key, value string) {
	if key == "traceparent" {
		c.value = value
	}
}

func (c *traceparentCarrier) Keys() []string { return []string{"traceparent"} }
