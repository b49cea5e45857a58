package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
)

var (
	printedKey = regexp.MustCompile(`(?m)^    (disp_k1_[0-9A-Za-z]{38})$`)
	printedID  = regexp.MustCompile(`^Created API key (key_[0-9A-Za-z]+) `)
)

// keysRun runs "dispatchd keys args…" with DISPATCHD_DATABASE_URL=dbURL
// (none when dbURL is empty).
func keysRun(t *testing.T, dbURL string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	getenv := func(name string) string {
		if name == "DISPATCHD_DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	var out, errOut bytes.Buffer
	err = keysCommand(context.Background(), args, getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// keysCreateOK runs "keys create" and returns the key it printed and its id.
func keysCreateOK(t *testing.T, dbURL string, args ...string) (key, id, stderr string) {
	t.Helper()
	stdout, stderr, err := keysRun(t, dbURL, append([]string{"create"}, args...)...)
	if err != nil {
		t.Fatalf("keys create: %v\nstderr: %s", err, stderr)
	}
	k, i := printedKey.FindStringSubmatch(stdout), printedID.FindStringSubmatch(stdout)
	if k == nil || i == nil {
		t.Fatalf("keys create printed no key or no id:\n%s", stdout)
	}
	if n := strings.Count(stdout, k[1]); n != 1 {
		t.Errorf("keys create printed the key %d times, want once", n)
	}
	if !strings.Contains(stdout, "not shown again") {
		t.Errorf("keys create did not warn that the key is not shown again:\n%s", stdout)
	}
	return k[1], i[1], stderr
}

func TestKeysCommand(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		ciKey, ciID, stderr := keysCreateOK(t, dbURL, "--name", "ci", "--default-endpoint", "orders")
		if !strings.Contains(stderr, `no endpoint "orders" is declared yet`) {
			t.Errorf("keys create with an undeclared endpoint: stderr = %q, want a warning", stderr)
		}
		// --database-url works as well as the environment.
		opsKey, opsID, _ := keysCreateOK(t, "", "--database-url", dbURL, "--name", "ops", "--scope", "read")

		store := openTestStore(t, dbURL)
		keys := store.(apikey.Store)
		auth := apikey.NewAuthenticator(keys, "", time.Now)
		p, err := auth.Authenticate(ctx, "Bearer "+ciKey)
		if err != nil {
			t.Fatalf("the created key does not authenticate: %v", err)
		}
		if diff := cmp.Diff(apikey.Principal{KeyID: ciID, Name: "ci", DefaultEndpoint: "orders", Scope: apikey.ScopeAdmin}, p); diff != "" {
			t.Errorf("principal of the created key (-want +got):\n%s", diff)
		}
		if p, err := auth.Authenticate(ctx, "Bearer "+opsKey); err != nil || p.Scope != apikey.ScopeRead {
			t.Fatalf("the second key: principal %+v, %v; want scope read", p, err)
		}

		if out, _, err := keysRun(t, dbURL, "revoke", ciID); err != nil || !strings.Contains(out, "Revoked API key "+ciID) {
			t.Fatalf("keys revoke = %q, %v", out, err)
		}
		if _, err := auth.Authenticate(ctx, "Bearer "+ciKey); job.ErrorCode(err) != job.CodeUnauthenticated {
			t.Errorf("the revoked key authenticates: %v", err)
		}
		if _, err := auth.Authenticate(ctx, "Bearer "+opsKey); err != nil {
			t.Errorf("revoking one key refused another: %v", err)
		}

		out, _, err := keysRun(t, dbURL, "list")
		if err != nil {
			t.Fatalf("keys list: %v", err)
		}
		for _, key := range []string{ciKey, opsKey} {
			if strings.Contains(out, key[16:]) {
				t.Errorf("keys list shows a key:\n%s", out)
			}
		}
		// The rows say what the store holds (times to the second).
		stored, err := keys.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 2 {
			t.Fatalf("the store has %d keys, want 2", len(stored))
		}
		ci, ops := stored[0], stored[1]
		if ci.ID != ciID || ops.ID != opsID {
			t.Fatalf("stored keys %s, %s; want %s, %s", ci.ID, ops.ID, ciID, opsID)
		}
		rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
		want := [][]string{
			{"ID", "NAME", "SCOPE", "PREFIX", "DEFAULT", "ENDPOINT", "CREATED", "LAST", "USED", "REVOKED"},
			{ciID, "ci", "admin", ci.Prefix + "…", "orders", rfc(ci.CreatedAt), rfc(ci.LastUsedAt), rfc(ci.RevokedAt)},
			{opsID, "ops", "read", ops.Prefix + "…", "-", rfc(ops.CreatedAt), rfc(ops.LastUsedAt), "-"},
		}
		if diff := cmp.Diff(want, fields(out)); diff != "" {
			t.Errorf("keys list (-want +got):\n%s\noutput:\n%s", diff, out)
		}
	})
}

// fields splits each line of out into its words.
func fields(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

// TestKeysListEscapes: a name stored before names were checked (here
// written straight to the store) is printed escaped, on one line.
func TestKeysListEscapes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		_, k := apikey.Generate()
		k.Name, k.CreatedAt = "evil\n\x1b[31mID\tNAME", time.Now()
		if err := openTestStore(t, dbURL).(apikey.Store).CreateKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		out, _, err := keysRun(t, dbURL, "list")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(out, "\n") != 2 || strings.ContainsAny(out, "\x1b\t") {
			t.Errorf("keys list printed the raw name:\n%q", out)
		}
		if !strings.Contains(out, `"evil\n\x1b[31mID\tNAME"`) {
			t.Errorf("keys list does not show the name escaped:\n%s", out)
		}
	})
}

// TestKeysGenerate: the printed key is accepted as a bootstrap key and is
// new each time.
func TestKeysGenerate(t *testing.T) {
	a, _, err := keysRun(t, "", "generate")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := keysRun(t, "", "generate")
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if err := apikey.CheckBootstrap(a); err != nil || a == b {
		t.Errorf("keys generate printed %q then %q (%v); want two different valid keys", a, b, err)
	}
}

func TestKeysCommandErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		out, _, err := keysRun(t, dbURL, "list")
		if err != nil || !strings.Contains(out, "No API keys") {
			t.Errorf("keys list on an empty store = %q, %v; want a line saying there are none", out, err)
		}
		_, id, _ := keysCreateOK(t, dbURL, "--name", "x")
		if out, _, err := keysRun(t, dbURL, "list"); err != nil || len(fields(out)) != 2 || !slices.Equal(fields(out)[1][4:], []string{"-", fields(out)[1][5], "never", "-"}) {
			t.Errorf("keys list of a key never used = %q, %v; want one row, default endpoint -, last used never, revoked -", out, err)
		}
		// Revoking twice is not an error, and flags may follow the id.
		for range 2 {
			if _, _, err := keysRun(t, "", "revoke", id, "--database-url", dbURL); err != nil {
				t.Errorf("keys revoke %s: %v", id, err)
			}
		}

		tests := []struct {
			name    string
			args    []string
			wantErr string
		}{
			{"no command", nil, "no command given"},
			{"unknown command", []string{"rotate"}, `unknown command "rotate"`},
			{"create without name", []string{"create"}, "--name is required"},
			{"create with blank name", []string{"create", "--name", "  "}, "--name is required"},
			{"create with a tab in the name", []string{"create", "--name", "a\tb"}, "control characters"},
			{"create with a name too long", []string{"create", "--name", strings.Repeat("n", 101)}, "at most 100"},
			{"create with an escape in the name", []string{"create", "--name", "\x1b[2Jx"}, "control"},
			{"create with an unknown scope", []string{"create", "--name", "x", "--scope", "write"}, "admin, dispatch or read"},
			{"generate with an argument", []string{"generate", "x"}, `unexpected argument "x"`},
			{"create with an argument", []string{"create", "--name", "x", "extra"}, `unexpected argument "extra"`},
			{"list with an argument", []string{"list", "all"}, `unexpected argument "all"`},
			{"revoke without id", []string{"revoke"}, "give the id of one key"},
			{"revoke two ids", []string{"revoke", "a", "b"}, "give the id of one key"},
			{"revoke unknown", []string{"revoke", "key_nope"}, `no API key "key_nope"`},
			{"unknown flag", []string{"list", "--nope"}, "flag provided but not defined: -nope"},
		}
		for _, tt := range tests {
			_, _, err := keysRun(t, dbURL, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: keys %q = %v, want an error containing %q", tt.name, tt.args, err, tt.wantErr)
			}
		}
		stored, err := openTestStore(t, dbURL).(apikey.Store).ListKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 1 {
			t.Errorf("after the failed commands the store has %d keys, want 1", len(stored))
		}
	})
}
