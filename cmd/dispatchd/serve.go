package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/gen/openapi"
	"github.com/dispatchd/dispatchd/internal/api"
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/config"
	"github.com/dispatchd/dispatchd/internal/console"
	"github.com/dispatchd/dispatchd/internal/delivery"
	"github.com/dispatchd/dispatchd/internal/gateway"
	"github.com/dispatchd/dispatchd/internal/ingest"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/metrics"
	"github.com/dispatchd/dispatchd/internal/opsnotify"
	"github.com/dispatchd/dispatchd/internal/route"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
	"github.com/dispatchd/dispatchd/internal/secretbox"
	"github.com/dispatchd/dispatchd/internal/server"
	"github.com/dispatchd/dispatchd/internal/ssrf"
	dstore "github.com/dispatchd/dispatchd/internal/store"
	"github.com/dispatchd/dispatchd/internal/store/postgres"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
	"github.com/dispatchd/dispatchd/internal/telemetry"
	"github.com/dispatchd/dispatchd/internal/verify"
	"github.com/dispatchd/dispatchd/internal/worker"
)

// sourceReloadInterval is how soon a source changed through the API of
// another process takes effect in this one.
const sourceReloadInterval = 5 * time.Second

// declareSources upserts the file's sources and removes the ones the file
// declared before but no longer does: a source taken out of the file must
// stop accepting webhooks. The file's sources go into registry with the
// verifiers their validation built.
func declareSources(ctx context.Context, store job.Store, file *config.File, registry *ingest.Registry, log *slog.Logger) error {
	now := time.Now()
	specs := make([]job.SourceSpec, len(file.Sources))
	declared := map[string]verify.Verifier{}
	for i := range file.Sources {
		specs[i] = file.Sources[i].Spec()
		declared[specs[i].Name] = file.Sources[i].Verifier()
	}
	if err := store.UpsertSources(ctx, specs, job.OriginConfig, now); err != nil {
		return fmt.Errorf("declare the configured sources: %w", err)
	}
	existing, err := store.ListSources(ctx)
	if err != nil {
		return fmt.Errorf("list the sources: %w", err)
	}
	for _, src := range existing {
		if src.Origin != job.OriginConfig {
			continue
		}
		v, ok := declared[src.Name]
		if !ok {
			if err := store.DeleteSource(ctx, src.Name); err != nil {
				return fmt.Errorf("remove source %s, no longer in the file: %w", src.Name, err)
			}
			log.Info("source removed: the configuration file no longer declares it", "source", src.Name)
			continue
		}
		if err := registry.Put(src, v); err != nil {
			return fmt.Errorf("load source %s: %w", src.Name, err)
		}
	}
	return nil
}

// listener is one part of the process that runs until its context ends.
type listener struct {
	name  string
	serve func(context.Context) error
}

// newGRPCServer returns a gRPC server with the services register adds,
// health and reflection, API-key authentication on every method but
// ingestion and health, and TLS when tlsConfig is set.
// more interceptors run after authentication (the audit log).
func newGRPCServer(tlsConfig *tls.Config, authn *apikey.Authenticator, tel *telemetry.Telemetry, sources *ingest.Registry, register func(*grpc.Server), more ...grpc.UnaryServerInterceptor) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tel.TracerProvider), otelgrpc.WithPropagators(tel.Propagator))),
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{apikey.UnaryServerInterceptor(authn, apikey.Exempt)}, more...)...),
		grpc.ChainStreamInterceptor(apikey.StreamServerInterceptor(authn, apikey.Exempt)),
	}
	opts = append(opts, server.GRPCOptions(server.GRPCLimits{
		// The largest message of any service: a job of the largest payload
		// an endpoint may accept, or a webhook of the largest body.
		MaxRecvMsgSize:   gateway.MaxJobsBodyBytes,
		MessageLimit:     func(msg any) int { return grpcMessageLimit(msg, sources) },
		NeedsCredentials: func(m string) bool { return !apikey.Exempt(m) },
		MissingCredentials: rpcerr.Status(job.Errorf(job.CodeUnauthenticated,
			"missing Authorization: Bearer %s… header", apikey.KeyPrefix)),
	})...)
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	g := grpc.NewServer(opts...)
	register(g)
	healthpb.RegisterHealthServer(g, health.NewServer())
	reflection.Register(g)
	return g
}

// maxWebhookHeaderBytes is what an ingest request may carry beside its
// body: its headers, as the HTTP face caps them, and the source name.
const maxWebhookHeaderBytes = server.MaxHeaderBytes + 1<<10

// grpcMessageLimit is the cap of a gRPC request message by its service:
// ingest no more than the largest source's body plus headers, the job
// dispatch calls what the REST routes accept, everything else 1 MiB.
func grpcMessageLimit(msg any, sources *ingest.Registry) int {
	switch msg.(type) {
	case *dispatchdv1.ReceiveWebhookRequest:
		return int(max(sources.LargestBodyBytes(), job.DefaultMaxBodyBytes)) + maxWebhookHeaderBytes
	case *dispatchdv1.DispatchJobRequest, *dispatchdv1.BatchDispatchJobsRequest:
		return gateway.MaxJobsBodyBytes
	case *dispatchdv1.DispatchedDispatchJobRequest:
		return gateway.MaxDispatchedBodyBytes
	}
	return gateway.MaxAPIBodyBytes
}

// inMemory serves g on an in-memory listener and returns a client
// connection to it, and the function that serves until its context ends.
func inMemory(g *grpc.Server, tel *telemetry.Telemetry) (*grpc.ClientConn, func(context.Context) error, error) {
	ln := bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///dispatchd-api",
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tel.TracerProvider), otelgrpc.WithPropagators(tel.Propagator))),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("in-memory API connection: %w", err)
	}
	return conn, func(ctx context.Context) error { return server.ServeGRPC(ctx, g, ln) }, nil
}

// dialInternal connects the gateway to a service of another process:
// plaintext on a private network, or TLS verified against caFile.
func dialInternal(addr, caFile string, tel *telemetry.Telemetry) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("DISPATCHD_INTERNAL_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("DISPATCHD_INTERNAL_CA_FILE %s: no PEM certificate in it", caFile)
		}
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool})
	}
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tel.TracerProvider), otelgrpc.WithPropagators(tel.Propagator))),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(job.MaxMaxBodyBytes+1<<20)),
	)
}

// newWorker builds the delivery role: the operational webhook sender if
// one is configured, and the worker delivering with client.
func newWorker(file *config.File, store job.Store, client *delivery.Client, guard *ssrf.Guard, reg prometheus.Registerer, m *metrics.Metrics, log *slog.Logger, tel *telemetry.Telemetry) (*worker.Worker, []listener) {
	var services []listener
	var notifier worker.Notifier
	if ow := file.OperationalWebhook; ow != nil {
		// Behind the same SSRF guard as deliveries, no redirects followed.
		sender := opsnotify.New(ow.URL, ow.Secret, opsnotify.NewHTTPClient(guard.Control), time.Now, log, reg)
		notifier = sender
		services = append(services, listener{"operational webhooks", func(ctx context.Context) error {
			sender.Run(ctx)
			return nil
		}})
	}
	w := worker.New(worker.Options{
		Store:    store,
		Client:   client,
		Notifier: notifier,
		Log:      log,
		Now:      time.Now,
		Metrics:  m,

		TracerProvider: tel.TracerProvider,
	})
	return w, services
}

// loadConfig reads the settings and the declarative file.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config.Settings, *config.File, error) {
	env, err := config.LoadEnv(os.DirFS("."), getenv)
	if err != nil {
		return config.Settings{}, nil, err
	}
	settings, err := config.Parse(name, args, env, stderr)
	if err != nil {
		return config.Settings{}, nil, err
	}
	file := &config.File{}
	if settings.ConfigFile != "" {
		data, err := os.ReadFile(settings.ConfigFile)
		if err != nil {
			return config.Settings{}, nil, fmt.Errorf("%s: %w", settings.Name("DISPATCHD_CONFIG"), err)
		}
		if file, err = config.ParseFile(data, env); err != nil {
			return config.Settings{}, nil, fmt.Errorf("config file %s:\n%w", settings.ConfigFile, err)
		}
	}
	return settings, file, nil
}

// checkBootstrapKey refuses a bootstrap key (DISPATCHD_API_KEY) without
// the shape and entropy of a generated key: one typed by hand is
// guessable. Empty is no bootstrap key.
func checkBootstrapKey(key string) error {
	if key == "" {
		return nil
	}
	if err := apikey.CheckBootstrap(key); err != nil {
		return fmt.Errorf("DISPATCHD_API_KEY: %w", err)
	}
	return nil
}

func newLogger(w io.Writer, s config.Settings) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.LogLevel)) // validated by config.Parse
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "text" || (s.LogFormat == "auto" && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// isTerminal reports whether w is a terminal: people read text there,
// log collectors read JSON everywhere else.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// openStore opens the database the settings name. The store keeps jobs
// and API keys alike.
// Secrets are sealed under the keyring resolveKeyring finds (or creates).
func openStore(ctx context.Context, s config.Settings) (*dstore.Store, error) {
	if path, ok := strings.CutPrefix(s.DatabaseURL, "sqlite:"); ok {
		d, err := sqlite.OpenDriver(ctx, path)
		if err != nil {
			return nil, err
		}
		// After the driver: the database's directory exists now.
		keys, err := resolveKeyring(s, true)
		if err != nil {
			d.Close()
			return nil, err
		}
		return newStore(d, keys, s)
	}
	d, err := postgres.OpenDriver(ctx, s.DatabaseURL, postgres.Options{MaxConns: s.DBMaxConns, StatementTimeout: s.DBStatementTimeout})
	if err != nil {
		return nil, err
	}
	// After connecting, so that a database that does not answer says so
	// first.
	keys, err := resolveKeyring(s, false)
	if err != nil {
		d.Close()
		return nil, err
	}
	return newStore(d, keys, s)
}

// newStore is the store on d with the keyring and, if asked, payload
// encryption, which needs a key.
func newStore(d dstore.Driver, keys *secretbox.Keyring, s config.Settings) (*dstore.Store, error) {
	opts := []dstore.Option{dstore.WithKeyring(keys)}
	if s.EncryptPayloads {
		if keys == nil {
			d.Close()
			return nil, errors.New("DISPATCHD_ENCRYPT_PAYLOADS needs an encryption key: set DISPATCHD_ENCRYPTION_KEY (see `dispatchd encryption generate-key`)")
		}
		opts = append(opts, dstore.WithPayloadEncryption())
	}
	return dstore.New(d, opts...), nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return serveProcess(ctx, args, getenv, stdout, stderr, nil, true)
}

// serveWith is serve with, for tests, a tracer provider of their own (nil:
// the one the OTEL_* variables describe).
func serveWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, tp trace.TracerProvider) error {
	return serveProcess(ctx, args, getenv, stdout, stderr, tp, false)
}

// serveProcess is serveWith; grpcLogs routes gRPC's and grpc-gateway's
// process-wide log to the service's structured log, which only the process
// itself may do (tests run several services in one process).
func serveProcess(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, tp trace.TracerProvider, grpcLogs bool) error {
	settings, file, err := loadConfig("serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stdout, settings)
	if grpcLogs {
		server.RouteGRPCLogs(log)
	}
	tlsConfig, err := server.LoadTLS(settings.TLSCertFile, settings.TLSKeyFile)
	if err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, getenv, version)
	if err != nil {
		return err
	}
	// spansKept: the spans go somewhere, an exporter or the caller's
	// provider (the tests' recorder).
	spansKept := tel.Exporting != "" || tp != nil
	if tp != nil {
		tel.TracerProvider = tp
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("spans not flushed at shutdown", "error", err)
		}
	}()

	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	store, err := openStore(openCtx, settings)
	cancel()
	if err != nil {
		return fmt.Errorf("open the store (DISPATCHD_DATABASE_URL=%s): %w", config.RedactURL(settings.DatabaseURL), err)
	}
	if path, ok := strings.CutPrefix(settings.DatabaseURL, "sqlite:"); ok {
		if err := sqlite.CheckDirectory(path); err != nil {
			log.Warn("the database is readable by other users' tools", "error", err)
		}
	}
	defer store.Close()

	// The file's endpoints are upserted at every start: the file is the
	// source of truth for what it declares.
	specs := make([]job.EndpointSpec, len(file.Endpoints))
	for i := range file.Endpoints {
		specs[i] = file.Endpoints[i].Spec()
	}
	if err := store.UpsertEndpoints(ctx, specs, job.OriginConfig, time.Now()); err != nil {
		return fmt.Errorf("declare the configured endpoints: %w", err)
	}
	sources := ingest.NewRegistry(store, log)
	if err := declareSources(ctx, store, file, sources, log); err != nil {
		return err
	}
	if err := declareSchedules(ctx, store, file, time.Now()); err != nil {
		return err
	}
	if err := store.DeclareEventTypes(ctx, file.EventTypeSpecs(), time.Now()); err != nil {
		return fmt.Errorf("declare the configured event types: %w", err)
	}
	if err := sources.Load(ctx); err != nil {
		return fmt.Errorf("load the sources: %w", err)
	}
	routes := route.NewRegistry(store, log)
	if err := routes.Load(ctx); err != nil {
		return fmt.Errorf("load the subscriptions: %w", err)
	}
	if sources.Len() == 0 {
		log.Warn("no sources: every webhook will be answered 404; declare them in the file DISPATCHD_CONFIG names, or create them through the API")
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m := metrics.New(registry)
	if err := initKnownMetrics(ctx, store, m); err != nil {
		return err
	}
	registry.MustRegister(metrics.NewQueueCollector(store, time.Now))
	ingestServer := ingest.NewServer(store, sources, time.Now, log, tel.TracerProvider, m)
	ingestServer.SetRoutes(routes)

	if err := checkBootstrapKey(settings.APIKey); err != nil {
		return err
	}
	authn := apikey.NewAuthenticator(store, settings.APIKey, time.Now)
	// One HTTP client for deliveries and test sends, behind the SSRF guard.
	guard := ssrf.New(settings.AllowPrivateNetworks)
	defaults := file.Delivery.Egress()
	defaults.HTTPSOnly = defaults.HTTPSOnly || settings.HTTPSOnly
	client := delivery.NewClient(guard.Control, time.Now, "dispatchd/"+version)
	if spansKept {
		// Each POST is an HTTP client span. With nothing exported no one
		// would see it, and its instrumentation was 6 % of a worker's CPU
		// per delivery (profiled); the receiver still gets the delivery
		// span's traceparent.
		client = client.WithTracing(tel.TracerProvider, tel.Propagator)
	}
	client = client.WithEgress(defaults, guard.Allowed)
	for _, e := range specs {
		// The file's endpoints are checked like the API's; a refused one
		// would otherwise fail every delivery.
		if err := client.CheckURL(ctx, e.URL, e.Egress); err != nil {
			return fmt.Errorf("config file: endpoint %s: %w", e.Name, err)
		}
	}
	apiServers := func(g *grpc.Server) {
		dispatchdv1.RegisterJobServiceServer(g, api.NewJobServer(store, file.DefaultEndpoint, time.Now, log))
		endpoints := api.NewEndpointServer(store, client, time.Now, log)
		endpoints.SetRoutes(routes)
		dispatchdv1.RegisterEndpointServiceServer(g, endpoints)
		dispatchdv1.RegisterSourceServiceServer(g, api.NewSourceServer(store, sources, ingestServer, time.Now, log))
		dispatchdv1.RegisterKeyServiceServer(g, api.NewKeyServer(store, store, time.Now, log))
		registerScheduleService(g, store, log)
		dispatchdv1.RegisterEventServiceServer(g, api.NewEventServer(store, routes, time.Now, log))
		dispatchdv1.RegisterRequestServiceServer(g, api.NewRequestServer(store, log))
		dispatchdv1.RegisterStatsServiceServer(g, api.NewStatsServer(store, time.Now, log))
		dispatchdv1.RegisterAuditServiceServer(g, api.NewAuditServer(store, log))
	}
	audit := api.AuditInterceptor(store, time.Now, log)
	hasAPI := slices.Contains(settings.Roles, config.RoleAPI)
	grpcServer := newGRPCServer(tlsConfig, authn, tel, sources, func(g *grpc.Server) {
		if slices.Contains(settings.Roles, config.RoleIngest) {
			dispatchdv1.RegisterIngestServiceServer(g, ingestServer)
		}
		if hasAPI {
			apiServers(g)
		}
	}, audit)

	var listeners []listener

	grpcLn, err := net.Listen("tcp", settings.GRPCAddr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", settings.Name("DISPATCHD_GRPC_ADDR"), settings.GRPCAddr, err)
	}
	grpcLn = server.LimitListener(grpcLn, server.MaxConns)
	listeners = append(listeners, listener{"grpc", func(ctx context.Context) error { return server.ServeGRPC(ctx, grpcServer, grpcLn) }})
	attrs := []any{"grpc_addr", grpcLn.Addr().String()}

	if slices.Contains(settings.Roles, config.RoleGateway) {
		openapiJSON, openapiYAML, err := gateway.OpenAPIDocuments(openapi.Spec, version)
		if err != nil {
			return err
		}
		opts := gateway.Options{
			BodyLimit: sources.MaxBodyBytes,
			Ready:     store.Ping,
			Authenticate: func(ctx context.Context, authorization string) error {
				_, err := authn.Authenticate(ctx, authorization)
				return err
			},
			// One rendering per ScrapeTTL serves every scraper; the queue's
			// figures are read from the store at most every QueueStatsTTL.
			Metrics:     metrics.CachedHandler(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}), metrics.ScrapeTTL, time.Now),
			OpenAPI:     openapiJSON,
			OpenAPIYAML: openapiYAML,
			Log:         log,

			TracerProvider: tel.TracerProvider,
			Propagator:     tel.Propagator,
		}
		if slices.Contains(settings.Roles, config.RoleIngest) {
			opts.Ingest = ingestServer
			opts.RecordTooLarge = ingestServer.RecordTooLarge
		} else {
			conn, err := dialInternal(settings.IngestAddr, settings.InternalCAFile, tel)
			if err != nil {
				return fmt.Errorf("%s: %w", settings.Name("DISPATCHD_INGEST_ADDR"), err)
			}
			defer conn.Close()
			opts.IngestConn = conn
			attrs = append(attrs, "ingest_addr", settings.IngestAddr)
		}
		switch {
		case hasAPI:
			// The gateway reaches the API services through an in-memory
			// gRPC server of their own, so REST calls pass the same
			// interceptors (authentication) as gRPC calls.
			inner := newGRPCServer(nil, authn, tel, sources, apiServers, audit)
			conn, serveInner, err := inMemory(inner, tel)
			if err != nil {
				return err
			}
			defer conn.Close()
			listeners = append(listeners, listener{"api (in memory)", serveInner})
			opts.API = conn
		case settings.APIAddr != "":
			conn, err := dialInternal(settings.APIAddr, settings.InternalCAFile, tel)
			if err != nil {
				return fmt.Errorf("%s: %w", settings.Name("DISPATCHD_API_ADDR"), err)
			}
			defer conn.Close()
			opts.API = conn
			attrs = append(attrs, "api_addr", settings.APIAddr)
		default:
			log.Info("the API is not served by this gateway: no api role here and no DISPATCHD_API_ADDR")
		}
		if opts.API != nil {
			// The console calls the API as any client does, through the
			// same connection as REST.
			con, err := console.New(console.Options{API: opts.API, TraceURL: settings.TraceURL, Now: time.Now, Log: log})
			if err != nil {
				return err
			}
			opts.Console = con
		}
		handler, err := gateway.New(ctx, opts)
		if err != nil {
			return err
		}
		httpLn, err := net.Listen("tcp", settings.HTTPAddr)
		if err != nil {
			grpcLn.Close()
			return fmt.Errorf("%s %s: %w", settings.Name("DISPATCHD_HTTP_ADDR"), settings.HTTPAddr, err)
		}
		httpLn = server.LimitListener(httpLn, server.MaxConns)
		httpServer := server.NewHTTP(handler, tlsConfig, log)
		listeners = append(listeners, listener{"http", func(ctx context.Context) error { return server.ServeHTTP(ctx, httpServer, httpLn) }})
		attrs = append(attrs, "http_addr", httpLn.Addr().String())
	}

	if slices.Contains(settings.Roles, config.RoleWorker) {
		w, services := newWorker(file, store, client, guard, registry, m, log, tel)
		listeners = append(listeners, services...)
		listeners = append(listeners, listener{"worker", w.Run})
		pruner := &worker.Pruner{Store: store, Retention: settings.Retention, DeadRetention: settings.DeadRetention, Now: time.Now, Log: log}
		listeners = append(listeners, listener{"retention", pruner.Run})
		sched, err := scheduler(store, log)
		if err != nil {
			return err
		}
		listeners = append(listeners, sched)
		attrs = append(attrs, "private_networks_allowed", fmt.Sprint(settings.AllowPrivateNetworks))
	}

	if tel.Exporting != "" {
		attrs = append(attrs, "traces", "exported over OTLP "+tel.Exporting)
	} else {
		attrs = append(attrs, "traces", "not exported (set OTEL_EXPORTER_OTLP_ENDPOINT)")
	}
	if tlsConfig != nil {
		attrs = append(attrs, "tls", "TLS 1.2+")
	} else {
		attrs = append(attrs, "tls", "off: plain HTTP and gRPC; set DISPATCHD_TLS_CERT_FILE and DISPATCHD_TLS_KEY_FILE to serve TLS")
	}
	attrs = append(attrs, "roles", strings.Join(settings.Roles, ","), "sources", sources.Len(), "database", config.RedactURL(settings.DatabaseURL))
	listeners = append(listeners, listener{"source reload", func(ctx context.Context) error {
		sources.Run(ctx, sourceReloadInterval)
		return nil
	}}, listener{"route reload", func(ctx context.Context) error {
		routes.Run(ctx, sourceReloadInterval)
		return nil
	}})
	log.Info("dispatchd listening", attrs...)

	if settings.PprofAddr != "" {
		ln, err := net.Listen("tcp", settings.PprofAddr)
		if err != nil {
			return fmt.Errorf("%s %s: %w", settings.Name("DISPATCHD_PPROF_ADDR"), settings.PprofAddr, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: server.ReadHeaderTimeout}
		listeners = append(listeners, listener{"pprof", func(ctx context.Context) error { return server.ServeHTTP(ctx, srv, ln) }})
		log.Info("profiler on", "pprof_addr", ln.Addr().String())
	}

	// Every listener stops when ctx ends or when any of them fails.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, len(listeners))
	for i, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stop()
			errs[i] = l.serve(ctx)
		}()
	}
	wg.Wait()
	log.Info("dispatchd stopped")
	return errors.Join(errs...)
}
