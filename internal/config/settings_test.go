package config

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// mapEnv is an Env over a map; absent names read as "".
func mapEnv(m map[string]string) Env {
	return func(name string) string { return m[name] }
}

// checkErr fails unless err is non-nil and its message contains every one
// of want.
func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// cmpPrefix compares Settings: prefixes by value, without the record of
// which flags were given (Name's, tested on its own).
var cmpPrefix = cmp.Options{cmpopts.EquateComparable(netip.Prefix{}), cmpopts.IgnoreUnexported(Settings{})}

// TestSettingsNameTheOneUsed: messages name a setting by the flag when a
// flag set it, by its variable otherwise.
func TestSettingsNameTheOneUsed(t *testing.T) {
	env := mapEnv(map[string]string{"DISPATCHD_HTTP_ADDR": "127.0.0.1:1"})
	s, err := Parse("serve", []string{"--grpc-addr", "127.0.0.1:2"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Name("DISPATCHD_GRPC_ADDR"); got != "--grpc-addr" {
		t.Errorf("Name of a flag-given setting = %q, want --grpc-addr", got)
	}
	if got := s.Name("DISPATCHD_HTTP_ADDR"); got != "DISPATCHD_HTTP_ADDR" {
		t.Errorf("Name of an env-given setting = %q, want DISPATCHD_HTTP_ADDR", got)
	}
	_, err = Parse("serve", []string{"--tls-cert-file", "c.pem"}, mapEnv(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--tls-cert-file and DISPATCHD_TLS_KEY_FILE go together") {
		t.Errorf("a cert by flag without a key: %v, want the flag named", err)
	}
}

// defaults are the settings with nothing given, as the design lists them.
var defaults = Settings{
	HTTPAddr:    "127.0.0.1:8080",
	GRPCAddr:    "127.0.0.1:9090",
	DatabaseURL: "sqlite:./data/dispatchd.db",
	Roles:       []string{"gateway", "ingest", "worker", "api"},
	LogLevel:    "info",
	LogFormat:   "auto",

	DBStatementTimeout: 30 * time.Second,
	Retention:          168 * time.Hour,
	DeadRetention:      720 * time.Hour,
}

func TestParseDefaults(t *testing.T) {
	got, err := Parse("serve", nil, mapEnv(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(defaults, got, cmpPrefix); diff != "" {
		t.Errorf("Parse with nothing set (-want +got):\n%s", diff)
	}
	if got.TLS() {
		t.Error("TLS() = true without a certificate")
	}
}

// TestParseEverySetting sets every setting once by flag and once by its
// environment twin, and checks it lands in its field.
func TestParseEverySetting(t *testing.T) {
	want := Settings{
		HTTPAddr:    "0.0.0.0:80",
		GRPCAddr:    "[::1]:9091",
		DatabaseURL: "postgres://dispatchd@db:5432/dispatchd",
		ConfigFile:  "/etc/dispatchd.yaml",
		APIKey:      "disp_k1_abc",
		TLSCertFile: "cert.pem",
		TLSKeyFile:  "key.pem",
		AllowPrivateNetworks: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"), // 127.0.0.1/8 is masked
			netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("10.0.0.0/8"),
		},
		Roles:     []string{"ingest"},
		LogLevel:  "debug",
		LogFormat: "json",

		IngestAddr:         "10.0.0.5:9090",
		APIAddr:            "api.internal:9090",
		InternalCAFile:     "ca.pem",
		DBMaxConns:         40,
		DBStatementTimeout: 5 * time.Second,
		Retention:          24 * time.Hour,
		DeadRetention:      48 * time.Hour,
		PprofAddr:          "127.0.0.1:6060",

		EncryptionKey:         "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		AllowPlaintextSecrets: true,
		HTTPSOnly:             true,
		EncryptPayloads:       true,
		TraceURL:              "http://127.0.0.1:16686/trace/{traceId}",
	}
	values := map[string]string{
		"http-addr":               "0.0.0.0:80",
		"grpc-addr":               "[::1]:9091",
		"database-url":            "postgres://dispatchd@db:5432/dispatchd",
		"config":                  "/etc/dispatchd.yaml",
		"api-key":                 "disp_k1_abc",
		"tls-cert-file":           "cert.pem",
		"tls-key-file":            "key.pem",
		"allow-private-networks":  " 127.0.0.1/8, ::1/128,,10.0.0.0/8 ",
		"roles":                   "ingest,ingest",
		"log-level":               "debug",
		"log-format":              "json",
		"ingest-addr":             "10.0.0.5:9090",
		"api-addr":                "api.internal:9090",
		"internal-ca-file":        "ca.pem",
		"db-max-conns":            "40",
		"db-statement-timeout":    "5s",
		"retention":               "24h",
		"dead-retention":          "48h",
		"pprof-addr":              "127.0.0.1:6060",
		"encryption-key":          "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"allow-plaintext-secrets": "true",
		"https-only":              "true",
		"encrypt-payloads":        "true",
		"trace-url":               "http://127.0.0.1:16686/trace/{traceId}",
	}
	var args []string
	env := map[string]string{}
	for name, v := range values {
		args = append(args, "--"+name+"="+v)
		env["DISPATCHD_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = v
	}
	if len(args) != len(settings) {
		t.Fatalf("the test sets %d settings, the package has %d", len(args), len(settings))
	}

	got, err := Parse("serve", args, mapEnv(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
		t.Errorf("Parse(flags) (-want +got):\n%s", diff)
	}
	got, err = Parse("serve", nil, mapEnv(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
		t.Errorf("Parse(env) (-want +got):\n%s", diff)
	}
	if !got.TLS() {
		t.Error("TLS() = false with a certificate and a key")
	}
}

// TestParsePrecedence: flag > process environment > .env file > default.
func TestParsePrecedence(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		environ map[string]string
		dotEnv  string // "" for no .env file
		want    string // HTTPAddr
	}{
		{"default", nil, nil, "", "127.0.0.1:8080"},
		{".env over default", nil, nil, "DISPATCHD_HTTP_ADDR=127.0.0.1:1\n", "127.0.0.1:1"},
		{"environment over .env", nil, map[string]string{"DISPATCHD_HTTP_ADDR": "127.0.0.1:2"}, "DISPATCHD_HTTP_ADDR=127.0.0.1:1\n", "127.0.0.1:2"},
		{"flag over environment and .env", []string{"--http-addr", "127.0.0.1:3"}, map[string]string{"DISPATCHD_HTTP_ADDR": "127.0.0.1:2"}, "DISPATCHD_HTTP_ADDR=127.0.0.1:1\n", "127.0.0.1:3"},
		{"single-dash flag", []string{"-http-addr=127.0.0.1:3"}, map[string]string{"DISPATCHD_HTTP_ADDR": "127.0.0.1:2"}, "", "127.0.0.1:3"},
		{"empty environment value falls through to .env", nil, map[string]string{"DISPATCHD_HTTP_ADDR": ""}, "DISPATCHD_HTTP_ADDR=127.0.0.1:1\n", "127.0.0.1:1"},
		{"empty .env value falls through to default", nil, nil, "DISPATCHD_HTTP_ADDR=\n", "127.0.0.1:8080"},
		{"value padded with spaces", nil, map[string]string{"DISPATCHD_HTTP_ADDR": " 127.0.0.1:4 "}, "", "127.0.0.1:4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			if tc.dotEnv != "" {
				fsys[".env"] = &fstest.MapFile{Data: []byte(tc.dotEnv)}
			}
			env, err := LoadEnv(fsys, mapEnv(tc.environ))
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse("serve", tc.args, env, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if s.HTTPAddr != tc.want {
				t.Errorf("HTTPAddr = %q, want %q", s.HTTPAddr, tc.want)
			}
		})
	}
}

// TestParseErrors: every bad value stops Parse with an error naming the
// flag or variable that holds it and what is wrong.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
		// notWant must not appear: secrets are not echoed.
		notWant []string
	}{
		{"database URL scheme", nil, map[string]string{"DISPATCHD_DATABASE_URL": "mysql://x"},
			[]string{"DISPATCHD_DATABASE_URL", `"mysql://x"`, "sqlite:<path> or postgres://"}, nil},
		{"database URL by flag", []string{"--database-url=./data.db"}, nil,
			[]string{"--database-url", `"./data.db"`}, nil},
		{"sqlite without a path", nil, map[string]string{"DISPATCHD_DATABASE_URL": "sqlite:"},
			[]string{"DISPATCHD_DATABASE_URL", "needs a file path"}, nil},
		{"database URL password not echoed", nil, map[string]string{"DISPATCHD_DATABASE_URL": "postgress://app:hunter2-secret@db/app"},
			[]string{"DISPATCHD_DATABASE_URL", "postgress://app:", "@db/app"}, []string{"hunter2-secret"}},
		{"unparsable database URL password not echoed", nil, map[string]string{"DISPATCHD_DATABASE_URL": "pg://app:hunter2%zz@db/app"},
			[]string{"DISPATCHD_DATABASE_URL", "@db/app"}, []string{"hunter2"}},
		{"bad CIDR", nil, map[string]string{"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8,10.0.0.0/33"},
			[]string{"DISPATCHD_ALLOW_PRIVATE_NETWORKS", `"10.0.0.0/33"`, "not a CIDR"}, nil},
		{"address without prefix length", []string{"--allow-private-networks=10.1.2.3"}, nil,
			[]string{"--allow-private-networks", `"10.1.2.3"`, "not a CIDR"}, nil},
		{"unknown role", nil, map[string]string{"DISPATCHD_ROLES": "gateway,ingest,admin"},
			[]string{"DISPATCHD_ROLES", `unknown role "admin"`, "gateway, ingest, worker, api"}, nil},
		{"role case", []string{"--roles=Ingest"}, nil,
			[]string{"--roles", `unknown role "Ingest"`}, nil},
		{"no role", []string{"--roles= , "}, nil,
			[]string{"--roles", "no role given"}, nil},
		{"gateway without ingest", nil, map[string]string{"DISPATCHD_ROLES": "gateway"},
			[]string{"DISPATCHD_ROLES", "without ingest needs DISPATCHD_INGEST_ADDR"}, nil},
		{"bad ingest address", nil, map[string]string{"DISPATCHD_INGEST_ADDR": "ingest"},
			[]string{"DISPATCHD_INGEST_ADDR", "host:port"}, nil},
		{"bad pool size", nil, map[string]string{"DISPATCHD_DB_MAX_CONNS": "-1"},
			[]string{"DISPATCHD_DB_MAX_CONNS", "0 to 1000"}, nil},
		{"retention under a minute", nil, map[string]string{"DISPATCHD_RETENTION": "30s"},
			[]string{"DISPATCHD_RETENTION", `"30s"`, "at least 1m0s"}, nil},
		{"dead retention under an hour", []string{"--dead-retention=30m"}, nil,
			[]string{"--dead-retention", `"30m"`, "at least 1h0m0s"}, nil},
		{"bad statement timeout", nil, map[string]string{"DISPATCHD_DB_STATEMENT_TIMEOUT": "10ms"},
			[]string{"DISPATCHD_DB_STATEMENT_TIMEOUT", "at least 1s"}, nil},
		{"TLS certificate without key", nil, map[string]string{"DISPATCHD_TLS_CERT_FILE": "cert.pem"},
			[]string{"DISPATCHD_TLS_CERT_FILE", "DISPATCHD_TLS_KEY_FILE", "set both"}, nil},
		{"TLS key without certificate", []string{"--tls-key-file=key.pem"}, nil,
			[]string{"DISPATCHD_TLS_CERT_FILE", "--tls-key-file", "set both"}, nil},
		{"log level", nil, map[string]string{"DISPATCHD_LOG_LEVEL": "verbose"},
			[]string{"DISPATCHD_LOG_LEVEL", `"verbose"`, "debug, info, warn or error"}, nil},
		{"log level case", []string{"--log-level=INFO"}, nil,
			[]string{"--log-level", `"INFO"`}, nil},
		{"log format", nil, map[string]string{"DISPATCHD_LOG_FORMAT": "xml"},
			[]string{"DISPATCHD_LOG_FORMAT", `"xml"`, "json, text or auto"}, nil},
		{"API key prefix", nil, map[string]string{"DISPATCHD_API_KEY": "sk_live_0123456789abcdef"},
			[]string{"DISPATCHD_API_KEY", `"disp_k1_"`}, []string{"sk_live_0123456789abcdef"}},
		{"API key by flag", []string{"--api-key=disp_k2_0123456789"}, nil,
			[]string{"--api-key", `"disp_k1_"`}, []string{"disp_k2_0123456789"}},
		{"HTTP address without port", nil, map[string]string{"DISPATCHD_HTTP_ADDR": "localhost"},
			[]string{"DISPATCHD_HTTP_ADDR", `"localhost"`, "host:port"}, nil},
		{"blank HTTP address", nil, map[string]string{"DISPATCHD_HTTP_ADDR": "   "},
			[]string{"DISPATCHD_HTTP_ADDR", "host:port"}, nil},
		{"empty gRPC address by flag", []string{"--grpc-addr="}, nil,
			[]string{"--grpc-addr", "host:port"}, nil},
		{"gRPC address without port number", []string{"--grpc-addr=127.0.0.1:"}, nil,
			[]string{"--grpc-addr", "host:port"}, nil},
		{"stray positional argument", []string{"--log-level=debug", "extra"}, nil,
			[]string{`unexpected argument "extra"`}, nil},
		{"unknown flag", []string{"--http-adr=:80"}, nil,
			[]string{"http-adr"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			s, err := Parse("serve", tc.args, mapEnv(tc.env), &out)
			checkErr(t, err, tc.want...)
			for _, nw := range tc.notWant {
				if strings.Contains(err.Error(), nw) {
					t.Errorf("error %q contains the secret %q", err, nw)
				}
			}
			if diff := cmp.Diff(Settings{}, s, cmpPrefix); diff != "" {
				t.Errorf("Parse returned settings with its error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseHelp(t *testing.T) {
	var out strings.Builder
	_, err := Parse("serve", []string{"-h"}, mapEnv(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(-h) = %v, want flag.ErrHelp", err)
	}
	for _, st := range settings {
		for _, w := range []string{"-" + st.flag, st.env} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("usage does not mention %s:\n%s", w, out.String())
			}
		}
	}
	if !strings.Contains(out.String(), "Usage: dispatchd serve") {
		t.Errorf("usage does not name the command:\n%s", out.String())
	}
}

func TestLoadEnv(t *testing.T) {
	environ := mapEnv(map[string]string{"BOTH": "process", "ONLY_PROCESS": "p", "EMPTY": ""})
	fsys := fstest.MapFS{".env": &fstest.MapFile{Data: []byte("BOTH=file\nONLY_FILE=f\nEMPTY=from-file\n")}}
	env, err := LoadEnv(fsys, environ)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"BOTH": "process", "ONLY_PROCESS": "p", "ONLY_FILE": "f", "EMPTY": "from-file", "NEITHER": ""}
	got := map[string]string{}
	for name := range want {
		got[name] = env(name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadEnv lookups (-want +got):\n%s", diff)
	}

	// No .env file: the process environment alone.
	env, err = LoadEnv(fstest.MapFS{}, environ)
	if err != nil {
		t.Fatal(err)
	}
	if got := env("ONLY_FILE"); got != "" {
		t.Errorf(`without .env, env("ONLY_FILE") = %q, want ""`, got)
	}
	if got := env("BOTH"); got != "process" {
		t.Errorf(`without .env, env("BOTH") = %q, want "process"`, got)
	}
}

func TestLoadEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		want []string
	}{
		{"malformed line", fstest.MapFS{".env": {Data: []byte("# settings\nOK=1\nnot a setting\n")}}, []string{".env", "line 3", "KEY=VALUE"}},
		{".env is a directory", fstest.MapFS{".env/x": {Data: []byte("A=1")}}, []string{".env"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := LoadEnv(tc.fsys, mapEnv(nil))
			checkErr(t, err, tc.want...)
			if env != nil {
				t.Error("LoadEnv returned an Env with its error")
			}
		})
	}
}

func TestParseDotEnv(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"comments and blank lines", "# a comment\n\n   \n  # indented comment\nA=1\n", map[string]string{"A": "1"}},
		{"export", "export A=1\nexport  B = 2\n", map[string]string{"A": "1", "B": "2"}},
		{"spaces around key and value", "  A  =  x y  \n", map[string]string{"A": "x y"}},
		{"double quotes", `A="  padded  "`, map[string]string{"A": "  padded  "}},
		{"single quotes", `A='#not a comment'`, map[string]string{"A": "#not a comment"}},
		{"quotes only stripped in pairs", "A=\"open\nB='mixed\"\nC=\"\nD=''\n", map[string]string{"A": `"open`, "B": `'mixed"`, "C": `"`, "D": ""}},
		{"inner quotes kept", `A="say "hi""`, map[string]string{"A": `say "hi"`}},
		{"empty value", "A=\nB=''\n", map[string]string{"A": "", "B": ""}},
		{"equals in value", "URL=postgres://u@h/db?sslmode=disable&a=b\n", map[string]string{"URL": "postgres://u@h/db?sslmode=disable&a=b"}},
		{"hash in unquoted value is kept", "A=x # y\n", map[string]string{"A": "x # y"}},
		{"later line wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
		{"CRLF line endings", "A=1\r\nB=\"2\"\r\n", map[string]string{"A": "1", "B": "2"}},
		{"byte order mark", "\uFEFFA=1\n", map[string]string{"A": "1"}},
		{"no final newline", "A=1", map[string]string{"A": "1"}},
		{"underscore and digits", "_A1=x\nexport=y\n", map[string]string{"_A1": "x", "export": "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDotEnv(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseDotEnv(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseDotEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"no equals", "A=1\n\nJUSTAWORD\n", []string{"line 3:", "KEY=VALUE"}},
		{"empty key", "# c\n=value\n", []string{"line 2:", "KEY=VALUE"}},
		{"space in key", "MY KEY=1\n", []string{"line 1:", `"MY KEY"`, "not a variable name"}},
		{"export without a key", "export =1\n", []string{"line 1:", "KEY=VALUE"}},
		{"tab after export", "export\tA=1\n", []string{"line 1:", "not a variable name"}},
		{"quoted key", `"A"=1`, []string{"line 1:", "not a variable name"}},
		{"dash in key", "MY-KEY=1\n", []string{"line 1:", "not a variable name"}},
		{"leading digit", "1A=1\n", []string{"line 1:", "not a variable name"}},
		{"YAML style", "A: 1\n", []string{"line 1:", "KEY=VALUE"}},
		{"second byte order mark", "A=1\n\uFEFFB=2\n", []string{"line 2:", "not a variable name"}},
		{"line too long", "A=1\nB=" + strings.Repeat("x", 70_000) + "\n", []string{"line 2:", "too long"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDotEnv(strings.NewReader(tc.in))
			checkErr(t, err, tc.want...)
			if got != nil {
				t.Errorf("parseDotEnv returned %v with its error", got)
			}
		})
	}
}
