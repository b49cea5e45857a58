package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelpExitsZero: asking any command for help prints its usage and is
// a success (the process exits 0), not a usage error.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"serve", "--help"}, {"serve", "-h"}, {"check-config", "--help"},
		{"keys", "--help"}, {"keys", "create", "--help"}, {"keys", "list", "-h"}, {"keys", "revoke", "--help"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"dispatchd"}, args...), func(string) string { return "" }, &out, &errOut)
		if code := exitCode(err); code != 0 {
			t.Errorf("dispatchd %s: exit %d (%v), want 0", strings.Join(args, " "), code, err)
		}
		if !strings.Contains(out.String()+errOut.String(), "Usage") {
			t.Errorf("dispatchd %s printed no usage:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
		}
	}
	if code := exitCode(run(context.Background(), []string{"dispatchd", "serve", "--no-such-flag"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})); code != 2 {
		t.Errorf("an unknown flag: exit %d, want 2", code)
	}
}

// TestKeysSayWhichDatabase: the keys commands name the database they used
// and where the setting came from, and warn when the database did not exist
// (a key made there is the usual reason a server refuses a fresh key).
func TestKeysSayWhichDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	_, _, stderr := keysCreateOK(t, "sqlite:"+path, "--name", "first")
	if !strings.Contains(stderr, "database: sqlite:"+path+" (from DISPATCHD_DATABASE_URL)") {
		t.Errorf("first keys create did not name the database and its setting:\n%s", stderr)
	}
	if !strings.Contains(stderr, "did not exist") {
		t.Errorf("first keys create into a new database did not warn:\n%s", stderr)
	}
	_, _, stderr = keysCreateOK(t, "sqlite:"+path, "--name", "second")
	if strings.Contains(stderr, "did not exist") {
		t.Errorf("keys create into an existing database warned:\n%s", stderr)
	}
	_, stderr, err := keysRun(t, "", "list", "--database-url", "sqlite:"+path)
	if err != nil || !strings.Contains(stderr, "(from --database-url)") {
		t.Errorf("keys list --database-url: %v\n%s", err, stderr)
	}
}

// TestCheckConfigReportsWhatServeWouldHitLater: check-config fails, naming
// the problem, for what a start would survive but a user would not: no
// sources, a database that does not answer (a check that can be skipped),
// an endpoint the SSRF guard refuses; and says OK when all is well.
func TestCheckConfigReportsWhatServeWouldHitLater(t *testing.T) {
	const source = "sources:\n  - name: a\n    verify: {scheme: none}\n"
	const loopbackEndpoint = "endpoints:\n  - name: local\n    url: http://127.0.0.1:9999/hook\n    secret: whsec_ZGVtby1lbmRwb2ludC1zaWduaW5nLWtleSE=\n"
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		args       []string
		want       string // "" for OK
	}{
		{"all well", source + loopbackEndpoint, map[string]string{"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8"}, nil, ""},
		{"no sources", loopbackEndpoint, map[string]string{"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8"}, nil, "no sources"},
		{"endpoint refused by the SSRF guard", source + loopbackEndpoint, nil, nil,
			"endpoints[0] (local).url: address not allowed: 127.0.0.1 is a loopback address"},
		{"database does not answer", source, map[string]string{"DISPATCHD_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, nil,
			"database postgres://nobody@127.0.0.1:1/none"},
		{"database check skipped", source, map[string]string{"DISPATCHD_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"},
			[]string{"--skip-database"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "dispatchd.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"DISPATCHD_CONFIG": cfg, "DISPATCHD_DATABASE_URL": "sqlite:" + filepath.Join(dir, "d.db")}
			for k, v := range tc.env {
				env[k] = v
			}
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"dispatchd", "check-config"}, tc.args...), func(k string) string { return env[k] }, &out, &errOut)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("check-config: %v\n%s", err, errOut.String())
			case tc.want == "" && !strings.Contains(out.String(), "configuration OK"):
				t.Errorf("check-config printed no OK:\n%s", out.String())
			case tc.want != "" && err == nil:
				t.Errorf("check-config said OK, want a problem %q:\n%s", tc.want, out.String())
			case tc.want != "" && !strings.Contains(errOut.String(), tc.want):
				t.Errorf("check-config: %v, stderr does not mention %q:\n%s", err, tc.want, errOut.String())
			}
		})
	}
}

// TestREADMEMetricsExistFromStart: every metric README lists is on
// /metrics before the first webhook or delivery, at 0 for the sources and
// endpoints the server knows.
func TestREADMEMetricsExistFromStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start, end := strings.Index(section, "**Metrics**"), strings.Index(section, "**Logs**")
	if start < 0 || end < start {
		t.Fatal("README has no **Metrics** … **Logs** paragraph")
	}
	names := regexp.MustCompile(`dispatchd_[a-z_]+`).FindAllString(section[start:end], -1)
	if len(names) < 10 {
		t.Fatalf("found only %v in README's metrics", names)
	}
	svc := startService(t, map[string]string{
		"DISPATCHD_ROLES":        "gateway,ingest,worker",
		"DISPATCHD_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "d.db"),
	}, `
sources:
  - name: a
    verify: {scheme: none}
    routes: [b]
endpoints:
  - name: b
    url: https://b.example/hook
    secret: whsec_ZGVtby1lbmRwb2ludC1zaWduaW5nLWtleSE=
operational_webhook:
  url: https://ops.example/hook
  secret: ops-secret-0123456789
`)
	resp, err := http.Get(svc.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, name := range names {
		// A sample line, not only its # HELP: name{…} or name_count{…}.
		sample := regexp.MustCompile(`(?m)^` + name + `(_count|_bucket)?(\{[^}]*\})? 0$`)
		if !sample.Match(body) && !regexp.MustCompile(`(?m)^`+name+`(\{[^}]*\})? `).Match(body) {
			t.Errorf("%s (listed in README) has no sample on /metrics at start", name)
		}
	}
	for _, want := range []string{
		`dispatchd_webhooks_received_total{outcome="accepted",source="a"} 0`,
		`dispatchd_delivery_attempts_total{class="",endpoint="b",outcome="completed"} 0`,
		`dispatchd_jobs_dead_total{endpoint="b"} 0`,
		`dispatchd_operational_webhooks_total{result="sent",type="job.dead"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

// TestInterruptExitsZero: Ctrl-C (SIGINT) stops serve gracefully with exit
// status 0 — what lets `make run`, which execs the binary, end without a
// make error.
func TestInterruptExitsZero(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dispatchd.yaml")
	if err := os.WriteFile(cfg, []byte("sources:\n  - name: a\n    verify: {scheme: none}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "sqlite:"+filepath.Join(dir, "d.db"), cfg)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("after SIGINT: %v, want exit status 0", err)
	}
}
