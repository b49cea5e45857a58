package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// Options are what the gateway serves.
type Options struct {
	// Ingest is called in-process: a process that runs both roles does
	// not pay a loopback gRPC hop per webhook.
	Ingest dispatchdv1.IngestServiceServer
	// IngestConn reaches the ingest service of another process over gRPC,
	// when Ingest is nil.
	IngestConn *grpc.ClientConn
	// API, when set, is a connection to the gRPC server of the API
	// services (in memory in one process). The API routes go through it,
	// so that its interceptors — authentication first — apply to REST
	// calls exactly as to gRPC calls.
	API *grpc.ClientConn
	// OpenAPI and OpenAPIYAML are the spec served at GET /openapi.json
	// and GET /openapi.yaml (see OpenAPIDocuments).
	OpenAPI     []byte
	OpenAPIYAML []byte
	// TracerProvider and Propagator trace requests and continue a
	// caller's traceparent (nil: no spans).
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// BodyLimit returns the body limit of a source.
	BodyLimit func(source string) int64
	// RecordTooLarge, when set, writes a webhook refused for its size to
	// the inbound request log (the ingest service never sees it).
	RecordTooLarge func(ctx context.Context, source string, size int64, headers map[string]string, message string)
	// Console, when set, is served under /console/.
	Console http.Handler
	// Ready reports whether the process can serve (the store answers).
	Ready func(ctx context.Context) error
	// Metrics serves GET /metrics (Prometheus).
	Metrics http.Handler
	// Authenticate checks an API call's Authorization header before its
	// body is read (nil: the API routes read no body before the gRPC
	// interceptor has checked the key, i.e. they refuse bodies).
	Authenticate func(ctx context.Context, authorization string) error
	Log          *slog.Logger
}

// New returns the gateway's handler.
func New(ctx context.Context, o Options) (http.Handler, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	jsonpb := &runtime.JSONPb{
		// false and empty values are shown: {"duplicate": false} says more
		// than a missing key.
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	newMux := func() *runtime.ServeMux {
		return runtime.NewServeMux(
			runtime.WithMarshalerOption(runtime.MIMEWildcard, &rawBodyMarshaler{JSONPb: jsonpb}),
			runtime.WithErrorHandler(rpcErrorWriter(o.Log)),
			runtime.WithRoutingErrorHandler(writeRoutingError),
			withQueryParser(),
			// Webhook headers reach the ingest service in the request message.
			// Of the rest only Authorization is forwarded, for the API key.
			runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
				if strings.EqualFold(h, "Authorization") {
					return "authorization", true
				}
				return "", false
			}),
			runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		)
	}
	// The ingest RPC has a mux of its own, reached only through the
	// raw-body route below, which bounds the body before reading it. The
	// API mux behind "/" does not know the ingest RPC: no spelling of a
	// path (escaped slashes, encoded segments) that the HTTP router does
	// not see as the webhook route can reach it through grpc-gateway's
	// own, unescaping router and its unbounded JSON decoding.
	ingestGW := newMux()
	gw := newMux()
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = propagation.TraceContext{}
	}
	traced := func(h http.Handler, name func(*http.Request) string) http.Handler {
		return otelhttp.NewHandler(h, "http",
			otelhttp.WithTracerProvider(o.TracerProvider),
			otelhttp.WithPropagators(o.Propagator),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return name(r) }))
	}
	switch {
	case o.Ingest != nil:
		ingest := &tracedIngest{IngestServiceServer: o.Ingest, tracer: o.TracerProvider.Tracer("github.com/dispatchd/dispatchd/internal/gateway")}
		if err := dispatchdv1.RegisterIngestServiceHandlerServer(ctx, ingestGW, ingest); err != nil {
			return nil, fmt.Errorf("gateway: register IngestService: %w", err)
		}
	case o.IngestConn != nil:
		// The body and headers travel in the request message, as to the
		// in-process service.
		if err := dispatchdv1.RegisterIngestServiceHandler(ctx, ingestGW, o.IngestConn); err != nil {
			return nil, fmt.Errorf("gateway: register IngestService: %w", err)
		}
	default:
		return nil, errors.New("gateway: no ingest service, in process or remote")
	}
	if o.API != nil {
		for name, register := range map[string]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
			"JobService":      dispatchdv1.RegisterJobServiceHandler,
			"EndpointService": dispatchdv1.RegisterEndpointServiceHandler,
			"SourceService":   dispatchdv1.RegisterSourceServiceHandler,
			"KeyService":      dispatchdv1.RegisterKeyServiceHandler,
			"ScheduleService": dispatchdv1.RegisterScheduleServiceHandler,
			"EventService":    dispatchdv1.RegisterEventServiceHandler,
			"RequestService":  dispatchdv1.RegisterRequestServiceHandler,
			"StatsService":    dispatchdv1.RegisterStatsServiceHandler,
			"AuditService":    dispatchdv1.RegisterAuditServiceHandler,
		} {
			if err := register(ctx, gw, o.API); err != nil {
				return nil, fmt.Errorf("gateway: register %s: %w", name, err)
			}
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := o.Ready(r.Context()); err != nil {
			o.Log.WarnContext(r.Context(), "not ready", "error", err)
			writeError(w, http.StatusServiceUnavailable, job.CodeUnavailable, "the store does not answer")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	if o.OpenAPI != nil {
		mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(o.OpenAPI)
		})
	}
	if o.OpenAPIYAML != nil {
		mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			w.Write(o.OpenAPIYAML)
		})
	}
	if o.Console != nil {
		mux.Handle("/console/", o.Console)
		mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	}
	mux.Handle("POST /v1/webhooks/{source}", traced(readWebhookBody(o.BodyLimit, o.RecordTooLarge, ingestGW, o.Log),
		func(*http.Request) string { return "POST /v1/webhooks/{source}" }))
	// API paths hold ids: the span is named by the method only, and the
	// gRPC spans under it name the call.
	mux.Handle("/", traced(guardAPI(o.Authenticate, gw), func(r *http.Request) string { return r.Method }))
	return mux, nil
}

// tracedIngest gives the in-process call to the ingest service the span a
// gRPC hop would have had, named and attributed as an RPC; when the gateway
// and ingest run in separate processes, otelgrpc makes that span instead.
type tracedIngest struct {
	dispatchdv1.IngestServiceServer
	tracer trace.Tracer
}

func (t *tracedIngest) ReceiveWebhook(ctx context.Context, req *dispatchdv1.ReceiveWebhookRequest) (*dispatchdv1.ReceiveWebhookResponse, error) {
	ctx, span := t.tracer.Start(ctx, "dispatchd.v1.IngestService/ReceiveWebhook", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("rpc.system", "grpc"),
			attribute.String("rpc.service", "dispatchd.v1.IngestService"),
			attribute.String("rpc.method", "ReceiveWebhook"),
			attribute.Bool("dispatchd.in_process", true),
		))
	defer span.End()
	resp, err := t.IngestServiceServer.ReceiveWebhook(ctx, req)
	if err != nil {
		info := rpcerr.FromStatus(err)
		span.SetAttributes(attribute.String("rpc.grpc.status_code", info.GRPCCode.String()), attribute.String("error.type", string(info.Code)))
		span.SetStatus(codes.Error, string(info.Code))
	}
	return resp, err
}

// webhookBody is the request body the gateway already read, with the
// request headers: rawBodyMarshaler recognises it and fills the ingest
// request from it.
type webhookBody struct {
	*bytes.Reader
	raw    []byte
	header http.Header
}

func (*webhookBody) Close() error { return nil }

// readWebhookBody reads a webhook's body up to its source's limit: a
// declared Content-Length over the limit is refused before a byte is read,
// and a chunked body as soon as it passes the limit.
func readWebhookBody(limit func(string) int64, record func(context.Context, string, int64, map[string]string, string), next http.Handler, log *slog.Logger) http.Handler {
	tooLarge := func(w http.ResponseWriter, r *http.Request, source string, size int64, msg string) {
		if record != nil {
			headers := make(map[string]string, len(r.Header))
			for name, values := range r.Header {
				headers[strings.ToLower(name)] = strings.Join(values, ", ")
			}
			ctx := r.Context()
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("x-forwarded-for", host))
			}
			record(ctx, source, size, headers, msg)
		}
		writeError(w, http.StatusRequestEntityTooLarge, job.CodePayloadTooLarge, msg)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		source := r.PathValue("source")
		max := limit(source)
		if r.ContentLength > max {
			tooLarge(w, r, source, r.ContentLength,
				fmt.Sprintf("the body is %d bytes; source %q accepts at most %d", r.ContentLength, source, max))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				tooLarge(w, r, source, max+1, fmt.Sprintf("the body is over the %d bytes source %q accepts", max, source))
				return
			}
			// The error names the connection's addresses: it is logged,
			// not shown.
			log.DebugContext(r.Context(), "webhook body not read", "source", source, "error", err)
			writeError(w, http.StatusBadRequest, job.CodeInvalid, "the body could not be read (cut short or too slow)")
			return
		}
		r.Body = &webhookBody{Reader: bytes.NewReader(body), raw: body, header: r.Header}
		next.ServeHTTP(w, r)
	})
}

// rawBodyMarshaler is JSON for everything but the ingest request, which it
// fills with the raw body and headers instead of decoding the body.
type rawBodyMarshaler struct {
	*runtime.JSONPb
}

// NewDecoder implements runtime.Marshaler.
func (m *rawBodyMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	wb, ok := r.(*webhookBody)
	if !ok {
		dec := explainingDecoder{r: r, opts: m.JSONPb.UnmarshalOptions, m: m.JSONPb}
		return runtime.DecoderFunc(func(v any) error {
			// A webhook is only ever taken from the raw-body route, which
			// bounded it; decoding one from JSON would be a way around.
			if _, ok := v.(*dispatchdv1.ReceiveWebhookRequest); ok {
				return errNotRawBody
			}
			return dec.Decode(v)
		})
	}
	return runtime.DecoderFunc(func(v any) error {
		req, ok := v.(*dispatchdv1.ReceiveWebhookRequest)
		if !ok {
			return m.JSONPb.NewDecoder(wb).Decode(v)
		}
		req.Body = wb.raw
		req.Headers = make(map[string]string, len(wb.header))
		for name, values := range wb.header {
			req.Headers[strings.ToLower(name)] = strings.Join(values, ", ")
		}
		return nil
	})
}

// errorBody is the JSON of every error the HTTP face returns.
type errorBody struct {
	Code    job.Code `json:"code"`
	Message string   `json:"message"`
}

// httpOverrides are the domain codes whose HTTP status is more precise than
// the one of their gRPC code.
var httpOverrides = map[job.Code]int{
	job.CodePayloadTooLarge: http.StatusRequestEntityTooLarge,
}

// rpcErrorWriter returns grpc-gateway's error handler: the project's JSON
// error, with the message of a failure that is not dispatchd's own (a
// connection refused between processes, a transport error) replaced by a
// generic one, since such messages name socket addresses; the original
// goes to the log.
func rpcErrorWriter(log *slog.Logger) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		if tooBig, ok := overCap(r); ok {
			err = tooBig
		}
		if !isDomain(err) {
			if msg, ok := genericMessages[status.Code(err)]; ok {
				log.WarnContext(ctx, "request failed", "method", r.Method, "path", r.URL.Path, "grpc_code", status.Code(err).String(), "error", err)
				err = status.Error(status.Code(err), msg)
			}
		}
		writeRPCError(ctx, mux, m, w, r, err)
	}
}

// genericMessages replace the text of gRPC failures that did not come from
// dispatchd's services.
var genericMessages = map[grpccodes.Code]string{
	grpccodes.Unavailable:      "the service is unavailable; retry later",
	grpccodes.Internal:         "internal error",
	grpccodes.Unknown:          "internal error",
	grpccodes.DeadlineExceeded: "the request ran out of time",
	grpccodes.Canceled:         "the request was cancelled",
}

var errNotRawBody = status.Error(grpccodes.NotFound, "webhooks are received only at POST /v1/webhooks/{source}")

func writeRPCError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	info := rpcerr.FromStatus(err)
	status := runtime.HTTPStatusFromCode(info.GRPCCode)
	if s, ok := httpOverrides[info.Code]; ok {
		status = s
	}
	if info.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(info.RetryAfter.Seconds()))))
	}
	writeError(w, status, info.Code, info.Message)
}

func writeRoutingError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, status int) {
	switch status {
	case http.StatusMethodNotAllowed, http.StatusNotImplemented:
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path))
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, job.CodeNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	default:
		writeError(w, status, job.CodeInvalid, http.StatusText(status))
	}
}

func writeError(w http.ResponseWriter, status int, code job.Code, message string) {
	writeJSON(w, status, errorBody{Code: code, Message: message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
