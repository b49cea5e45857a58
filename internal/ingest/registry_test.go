package ingest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/specs"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
)

// TestRegistryKeepsTheBuiltVerifier: a source put with the verifier its
// validation built serves webhooks with that one, and reloads keep it
// until the stored spec changes.
func TestRegistryKeepsTheBuiltVerifier(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	spec := job.SourceSpec{Name: "shop", Scheme: "bearer", Secrets: []string{"0123456789abcdef"}}
	v, err := specs.Source(&spec, "spec", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSource(ctx, spec, now); err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetSource(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}

	r := NewRegistry(st, slog.New(slog.DiscardHandler))
	if err := r.Put(stored, v); err != nil {
		t.Fatal(err)
	}
	put, ok := r.Get("shop")
	if !ok || put.verifier != v {
		t.Fatalf("Get after Put = %v, %v; want the source with the verifier validation built", put, ok)
	}
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get("shop"); got != put {
		t.Error("Load rebuilt a source whose stored spec did not change")
	}

	spec.MaxBodyBytes = 2048
	if err := st.UpdateSourceSpec(ctx, spec, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get("shop"); got == put || got.MaxBodyBytes != 2048 {
		t.Errorf("after a change, Load kept %+v; want the new version", got)
	}
}
