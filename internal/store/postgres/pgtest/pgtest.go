// Package pgtest gives tests their own PostgreSQL schema on the development
// server, so PostgreSQL tests run in parallel without seeing each other.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the local server of the development machines and CI.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL returns the server tests use: $DISPATCHD_TEST_POSTGRES_URL, or
// DefaultURL when it answers. Without either the test is skipped — unless
// DISPATCHD_TEST_REQUIRE_POSTGRES is set (CI sets it), then it fails: a
// silently skipped PostgreSQL suite proves nothing.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DISPATCHD_TEST_POSTGRES_URL")
	explicit := u != ""
	if !explicit {
		u = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		if explicit || os.Getenv("DISPATCHD_TEST_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL at %s is required but does not answer: %v", u, err)
		}
		t.Skipf("no PostgreSQL at %s (set DISPATCHD_TEST_POSTGRES_URL): %v", u, err)
	}
	conn.Close(ctx)
	return u
}

// NewDatabase creates an empty schema for this test and returns a URL whose
// connections use it (search_path); the schema is dropped when the test
// ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
