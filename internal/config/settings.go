package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dispatchd/dispatchd/internal/secretbox"
)

// Roles a process can run.
const (
	RoleGateway = "gateway" // the HTTP face: webhooks, REST, health
	RoleIngest  = "ingest"  // IngestService over gRPC
	RoleWorker  = "worker"  // deliveries
	RoleAPI     = "api"     // JobService, EndpointService, SourceService, KeyService
)

// AvailableRoles are the roles this build implements.
var AvailableRoles = []string{RoleGateway, RoleIngest, RoleWorker, RoleAPI}

// Settings are the process settings (flags and DISPATCHD_* variables).
type Settings struct {
	// given maps a setting's environment name to the flag that set it,
	// for the settings set by a flag (see Name).
	given map[string]string

	HTTPAddr    string
	GRPCAddr    string
	DatabaseURL string
	// ConfigFile is the declarative YAML file; empty for none.
	ConfigFile string
	// APIKey is an optional bootstrap API key.
	APIKey      string
	TLSCertFile string
	TLSKeyFile  string
	// AllowPrivateNetworks are the private ranges deliveries may reach.
	AllowPrivateNetworks []netip.Prefix
	Roles                []string
	LogLevel             string
	LogFormat            string
	// IngestAddr and APIAddr are where a gateway reaches the ingest and API
	// services that run in other processes.
	IngestAddr string
	APIAddr    string
	// InternalCAFile, when set, makes those connections TLS, verified
	// against this CA.
	InternalCAFile string
	// DBMaxConns sizes the PostgreSQL pool; 0 is the default.
	DBMaxConns int
	// DBStatementTimeout bounds every PostgreSQL statement.
	DBStatementTimeout time.Duration
	// Retention keeps finished jobs and events (and so delivery ids for
	// deduplication); DeadRetention keeps dead jobs, for replay.
	Retention     time.Duration
	DeadRetention time.Duration
	// PprofAddr, when set, serves net/http/pprof there (for profiling;
	// keep it on loopback).
	PprofAddr string
	// HTTPSOnly refuses http:// endpoint URLs, except to
	// AllowPrivateNetworks, for every endpoint.
	HTTPSOnly bool
	// EncryptionKey is the keyring that seals secrets at rest: comma-separated
	// base64 32-byte keys, the first of which encrypts. Empty: SQLite uses
	// (or creates) the key file beside the database; PostgreSQL refuses to
	// start unless AllowPlaintextSecrets.
	EncryptionKey string
	// AllowPlaintextSecrets lets a PostgreSQL install run without a key.
	AllowPlaintextSecrets bool
	// EncryptPayloads seals event bodies and job payloads too.
	EncryptPayloads bool
	// TraceURL links the console's trace ids to a tracing UI: a URL
	// template with {traceId}.
	TraceURL string
}

// Env is a lookup of environment variables: the process environment
// layered over the .env file.
type Env func(name string) string

type setting struct {
	flag, env, def, usage string
	set                   func(s *Settings, v string) error
}

func str(dst func(*Settings) *string) func(*Settings, string) error {
	return func(s *Settings, v string) error { *dst(s) = v; return nil }
}

// addr checks a listen address: an empty one would listen on every
// interface, on a random port.
func addr(dst func(*Settings) *string) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return fmt.Errorf("%q: want host:port, e.g. 127.0.0.1:8080", v)
		}
		*dst(s) = v
		return nil
	}
}

// duration parses a duration of at least least.
func duration(least time.Duration, dst func(*Settings) *time.Duration) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < least {
			return fmt.Errorf("%q: want a duration of at least %s, e.g. 168h", v, least)
		}
		*dst(s) = d
		return nil
	}
}

// addrOrEmpty is addr for an optional address.
func addrOrEmpty(dst func(*Settings) *string) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		if v == "" {
			*dst(s) = ""
			return nil
		}
		return addr(dst)(s, v)
	}
}

// RedactURL hides the password of a database URL before it is shown in a
// log line or an error message.
func RedactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(v, "@"); i >= 0 {
		return "…" + v[i:] // unparsable, but may hold credentials
	}
	return v
}

var settings = []setting{
	{"http-addr", "DISPATCHD_HTTP_ADDR", "127.0.0.1:8080", "address of the HTTP gateway (webhooks, REST, health)",
		addr(func(s *Settings) *string { return &s.HTTPAddr })},
	{"grpc-addr", "DISPATCHD_GRPC_ADDR", "127.0.0.1:9090", "address of the gRPC server",
		addr(func(s *Settings) *string { return &s.GRPCAddr })},
	{"database-url", "DISPATCHD_DATABASE_URL", "sqlite:./data/dispatchd.db", "sqlite:<path> or postgres://…",
		func(s *Settings, v string) error {
			if !strings.HasPrefix(v, "sqlite:") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
				return fmt.Errorf("%q: want sqlite:<path> or postgres://user@host:port/db", RedactURL(v))
			}
			if v == "sqlite:" {
				return errors.New(`"sqlite:" needs a file path, e.g. sqlite:./data/dispatchd.db`)
			}
			s.DatabaseURL = v
			return nil
		}},
	{"config", "DISPATCHD_CONFIG", "", "declarative YAML file of sources, endpoints and routes",
		str(func(s *Settings) *string { return &s.ConfigFile })},
	{"api-key", "DISPATCHD_API_KEY", "", "bootstrap API key (disp_k1_…), accepted besides stored keys",
		func(s *Settings, v string) error {
			if v != "" && !strings.HasPrefix(v, "disp_k1_") {
				return errors.New(`an API key starts with "disp_k1_"`)
			}
			s.APIKey = v
			return nil
		}},
	{"tls-cert-file", "DISPATCHD_TLS_CERT_FILE", "", "PEM certificate: serve HTTPS and gRPC over TLS 1.2+",
		str(func(s *Settings) *string { return &s.TLSCertFile })},
	{"tls-key-file", "DISPATCHD_TLS_KEY_FILE", "", "PEM private key of the certificate",
		str(func(s *Settings) *string { return &s.TLSKeyFile })},
	{"allow-private-networks", "DISPATCHD_ALLOW_PRIVATE_NETWORKS", "", "comma-separated CIDRs deliveries may reach (e.g. 127.0.0.0/8,::1/128)",
		func(s *Settings, v string) error {
			s.AllowPrivateNetworks = nil
			for _, part := range splitList(v) {
				p, err := netip.ParsePrefix(part)
				if err != nil {
					return fmt.Errorf("%q is not a CIDR such as 127.0.0.0/8", part)
				}
				s.AllowPrivateNetworks = append(s.AllowPrivateNetworks, p.Masked())
			}
			return nil
		}},
	{"https-only", "DISPATCHD_HTTPS_ONLY", "false", "refuse http:// endpoint URLs, except to the allowed private networks",
		func(s *Settings, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q: want true or false", v)
			}
			s.HTTPSOnly = b
			return nil
		}},
	{"encryption-key", "DISPATCHD_ENCRYPTION_KEY", "", "comma-separated base64 32-byte keys sealing secrets at rest; the first encrypts, all decrypt",
		func(s *Settings, v string) error {
			if v != "" {
				if _, err := secretbox.ParseKeyring(v); err != nil {
					return err
				}
			}
			s.EncryptionKey = v
			return nil
		}},
	{"allow-plaintext-secrets", "DISPATCHD_ALLOW_PLAINTEXT_SECRETS", "false", "let a PostgreSQL install store secrets in clear when no encryption key is set",
		func(s *Settings, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q: want true or false", v)
			}
			s.AllowPlaintextSecrets = b
			return nil
		}},
	{"encrypt-payloads", "DISPATCHD_ENCRYPT_PAYLOADS", "false", "encrypt event bodies and job payloads at rest too, under the encryption key",
		func(s *Settings, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q: want true or false", v)
			}
			s.EncryptPayloads = b
			return nil
		}},
	{"roles", "DISPATCHD_ROLES", strings.Join(AvailableRoles, ","), "comma-separated roles this process runs",
		func(s *Settings, v string) error {
			s.Roles = nil
			for _, r := range splitList(v) {
				if !slices.Contains(AvailableRoles, r) {
					return fmt.Errorf("unknown role %q; this version has %s", r, strings.Join(AvailableRoles, ", "))
				}
				if !slices.Contains(s.Roles, r) {
					s.Roles = append(s.Roles, r)
				}
			}
			if len(s.Roles) == 0 {
				return errors.New("no role given")
			}
			return nil
		}},
	{"ingest-addr", "DISPATCHD_INGEST_ADDR", "", "gRPC address of the ingest service when the gateway runs without the ingest role",
		addrOrEmpty(func(s *Settings) *string { return &s.IngestAddr })},
	{"api-addr", "DISPATCHD_API_ADDR", "", "gRPC address of the API services when the gateway runs without the api role",
		addrOrEmpty(func(s *Settings) *string { return &s.APIAddr })},
	{"internal-ca-file", "DISPATCHD_INTERNAL_CA_FILE", "", "PEM CA: the gateway dials ingest and api over TLS verified against it",
		str(func(s *Settings) *string { return &s.InternalCAFile })},
	{"db-max-conns", "DISPATCHD_DB_MAX_CONNS", "0", "PostgreSQL pool size (0: 4 + 2 x CPUs, at least 12)",
		func(s *Settings, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1000 {
				return fmt.Errorf("%q: want 0 to 1000", v)
			}
			s.DBMaxConns = n
			return nil
		}},
	// Retention may be as short as a minute (high-volume deployments that
	// only need a short deduplication window); dead jobs are kept at least
	// an hour so that someone can look at them and replay them.
	{"retention", "DISPATCHD_RETENTION", "168h", "how long completed jobs and events are kept (also the deduplication window)",
		duration(time.Minute, func(s *Settings) *time.Duration { return &s.Retention })},
	{"dead-retention", "DISPATCHD_DEAD_RETENTION", "720h", "how long dead jobs are kept for replay",
		duration(time.Hour, func(s *Settings) *time.Duration { return &s.DeadRetention })},
	{"trace-url", "DISPATCHD_TRACE_URL", "", "link the console's trace ids to a tracing UI: a URL with {traceId}, e.g. http://127.0.0.1:16686/trace/{traceId}",
		func(s *Settings, v string) error {
			if v != "" && !strings.Contains(v, "{traceId}") {
				return fmt.Errorf("%q has no {traceId}", v)
			}
			s.TraceURL = v
			return nil
		}},
	{"pprof-addr", "DISPATCHD_PPROF_ADDR", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060",
		addrOrEmpty(func(s *Settings) *string { return &s.PprofAddr })},
	{"db-statement-timeout", "DISPATCHD_DB_STATEMENT_TIMEOUT", "30s", "PostgreSQL statement_timeout of every connection",
		func(s *Settings, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				return fmt.Errorf("%q: want a duration of at least 1s, e.g. 30s", v)
			}
			s.DBStatementTimeout = d
			return nil
		}},
	{"log-level", "DISPATCHD_LOG_LEVEL", "info", "debug, info, warn or error",
		func(s *Settings, v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				s.LogLevel = v
				return nil
			}
			return fmt.Errorf("%q: want debug, info, warn or error", v)
		}},
	{"log-format", "DISPATCHD_LOG_FORMAT", "auto", "json, text, or auto (text on a terminal, else json)",
		func(s *Settings, v string) error {
			if v != "text" && v != "json" && v != "auto" {
				return fmt.Errorf("%q: want json, text or auto", v)
			}
			s.LogFormat = v
			return nil
		}},
}

// flagValue is a setting's flag: its text, parsed later by the setting.
// A setting whose default is "false" is a switch, so that a bare
// --allow-plaintext-secrets means true, as it reads.
type flagValue struct {
	p      *string
	isBool bool
}

func (v *flagValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return *v.p
}

func (v *flagValue) Set(s string) error { *v.p = s; return nil }

// IsBoolFlag tells package flag that the value may be left out.
func (v *flagValue) IsBoolFlag() bool { return v.isBool }

// Parse reads the settings of a command from its flags (args, without the
// program and command names) and env. Usage text goes to output.
func Parse(name string, args []string, env Env, output io.Writer) (Settings, error) {
	fset := flag.NewFlagSet(name, flag.ContinueOnError)
	fset.SetOutput(output)
	values := make([]string, len(settings))
	for i, st := range settings {
		values[i] = st.def
		fset.Var(&flagValue{p: &values[i], isBool: st.def == "false"}, st.flag, st.usage+" (env "+st.env+")")
	}
	fset.Usage = func() {
		fmt.Fprintf(output, "Usage: dispatchd %s [flags]\n\nFlags (each has an environment twin):\n", name)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return Settings{}, err
	}
	if fset.NArg() > 0 {
		return Settings{}, fmt.Errorf("unexpected argument %q", fset.Arg(0))
	}
	fromFlag := map[string]bool{}
	fset.Visit(func(f *flag.Flag) { fromFlag[f.Name] = true })

	s := Settings{given: map[string]string{}}
	for i, st := range settings {
		v, origin := values[i], "--"+st.flag
		if fromFlag[st.flag] {
			s.given[st.env] = origin
		} else {
			if e := env(st.env); e != "" {
				v, origin = e, st.env
			} else {
				origin = "default of " + st.env
			}
		}
		if err := st.set(&s, strings.TrimSpace(v)); err != nil {
			return Settings{}, fmt.Errorf("%s: %w", origin, err)
		}
	}
	if slices.Contains(s.Roles, RoleGateway) && !slices.Contains(s.Roles, RoleIngest) && s.IngestAddr == "" {
		return Settings{}, fmt.Errorf("%s: the gateway role without ingest needs DISPATCHD_INGEST_ADDR (or --ingest-addr), the gRPC address of an ingest process", s.Name("DISPATCHD_ROLES"))
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return Settings{}, fmt.Errorf("%s and %s go together: set both to serve TLS, or neither", s.Name("DISPATCHD_TLS_CERT_FILE"), s.Name("DISPATCHD_TLS_KEY_FILE"))
	}
	return s, nil
}

// Name is how a message names the setting whose environment variable is
// env: its flag if a flag set it ("--grpc-addr"), else env — the name the
// user actually used.
func (s Settings) Name(env string) string {
	if f, ok := s.given[env]; ok {
		return f
	}
	return env
}

// TLS reports whether the settings ask for TLS.
func (s Settings) TLS() bool { return s.TLSCertFile != "" }

func splitList(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// LoadEnv layers getenv over the .env file in fsys (the working directory),
// if there is one: a variable with a non-empty value in the process
// environment wins over the file.
func LoadEnv(fsys fs.FS, getenv func(string) string) (Env, error) {
	file := map[string]string{}
	f, err := fsys.Open(".env")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf(".env: %w", err)
	default:
		defer f.Close()
		file, err = parseDotEnv(f)
		if err != nil {
			return nil, fmt.Errorf(".env: %w", err)
		}
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return file[name]
	}, nil
}

// parseDotEnv reads KEY=VALUE lines. Blank lines and lines starting with #
// are skipped, "export " before a key is allowed, and a value may be wrapped
// in single or double quotes.
func parseDotEnv(r io.Reader) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	n := 1
	for ; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // editors on Windows write a BOM
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		// Only such names are ever looked up (DISPATCHD_*, ${VAR}): any
		// other key would be a setting silently not applied.
		if !envName.MatchString(key) {
			return nil, fmt.Errorf("line %d: %q is not a variable name (letters, digits and _, not starting with a digit)", n, key)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		vars[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n, err)
	}
	return vars, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
