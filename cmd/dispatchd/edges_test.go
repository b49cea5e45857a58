package main

import (
	"bytes"
	"context"
	"path/filepath"
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
