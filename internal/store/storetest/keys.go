package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
)

// ExerciseKeys runs the conformance suite of apikey.Store: the store that
// opener opens must implement it.
func ExerciseKeys(t *testing.T, opener Opener) {
	ctx := context.Background()
	// Microseconds: the finest time both engines keep.
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 123456000, time.UTC)

	setup := func(t *testing.T) apikey.Store {
		t.Helper()
		open := opener(t)
		s, err := open(ctx)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		ks, ok := s.(apikey.Store)
		if !ok {
			t.Fatalf("%T does not implement apikey.Store", s)
		}
		return ks
	}
	newKey := func(name string, createdAt time.Time) apikey.Key {
		_, k := apikey.Generate()
		k.Name, k.CreatedAt = name, createdAt
		return k
	}
	create := func(t *testing.T, s apikey.Store, k apikey.Key) {
		t.Helper()
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
	}
	get := func(t *testing.T, s apikey.Store, prefix string) apikey.Key {
		t.Helper()
		k, err := s.GetKeyByPrefix(ctx, prefix)
		if err != nil {
			t.Fatalf("GetKeyByPrefix: %v", err)
		}
		return k
	}

	t.Run("CreateAndGet", func(t *testing.T) {
		t.Parallel()
		open := opener(t)
		first, err := open(ctx)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		closed := false
		t.Cleanup(func() {
			if !closed {
				first.Close()
			}
		})
		k := newKey("ci", t0)
		k.DefaultEndpoint = "orders"
		create(t, first.(apikey.Store), k)
		if diff := cmp.Diff(k, get(t, first.(apikey.Store), k.Prefix)); diff != "" {
			t.Errorf("GetKeyByPrefix (-want +got):\n%s", diff)
		}
		// The key is durable: a new store on the same database has it.
		closed = true
		if err := first.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		again, err := open(ctx)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer again.Close()
		if diff := cmp.Diff(k, get(t, again.(apikey.Store), k.Prefix)); diff != "" {
			t.Errorf("after reopening (-want +got):\n%s", diff)
		}
	})

	t.Run("GetUnknownPrefix", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		create(t, s, newKey("other", t0))
		_, err := s.GetKeyByPrefix(ctx, "disp_k1_00000000")
		if code := job.ErrorCode(err); code != job.CodeNotFound {
			t.Errorf("GetKeyByPrefix(unknown) error = %v (code %q), want code %q", err, code, job.CodeNotFound)
		}
	})

	t.Run("DuplicatePrefixRefused", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		a := newKey("a", t0)
		create(t, s, a)
		b := newKey("b", t0)
		b.Prefix = a.Prefix
		if err := s.CreateKey(ctx, b); err == nil {
			t.Errorf("CreateKey with a stored prefix succeeded; the prefix must identify one key")
		}
		if diff := cmp.Diff(a, get(t, s, a.Prefix)); diff != "" {
			t.Errorf("the first key changed (-want +got):\n%s", diff)
		}
	})

	t.Run("ListOldestFirst", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		keys, err := s.ListKeys(ctx)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if len(keys) != 0 {
			t.Errorf("ListKeys on an empty store = %d keys, want none", len(keys))
		}
		// Created out of order: the list is by creation time.
		late, early := newKey("late", t0.Add(time.Hour)), newKey("early", t0)
		create(t, s, late)
		create(t, s, early)
		if err := s.RevokeKey(ctx, late.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		late.RevokedAt = t0.Add(2 * time.Hour)
		keys, err = s.ListKeys(ctx)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if diff := cmp.Diff([]apikey.Key{early, late}, keys); diff != "" {
			t.Errorf("ListKeys (-want +got):\n%s", diff)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		k, other := newKey("k", t0), newKey("other", t0)
		create(t, s, k)
		create(t, s, other)
		if err := s.RevokeKey(ctx, k.ID, t0.Add(time.Minute)); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		// Revoking again is not an error and keeps the first time.
		if err := s.RevokeKey(ctx, k.ID, t0.Add(time.Hour)); err != nil {
			t.Fatalf("RevokeKey again: %v", err)
		}
		k.RevokedAt = t0.Add(time.Minute)
		if diff := cmp.Diff(k, get(t, s, k.Prefix)); diff != "" {
			t.Errorf("revoked key (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(other, get(t, s, other.Prefix)); diff != "" {
			t.Errorf("another key changed (-want +got):\n%s", diff)
		}
		err := s.RevokeKey(ctx, "key_unknown", t0)
		if code := job.ErrorCode(err); code != job.CodeNotFound {
			t.Errorf("RevokeKey(unknown) error = %v (code %q), want code %q", err, code, job.CodeNotFound)
		}
	})

	t.Run("Touch", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		k, other := newKey("k", t0), newKey("other", t0)
		create(t, s, k)
		create(t, s, other)
		steps := []struct {
			name string
			at   time.Time
			want time.Time
		}{
			{"first use", t0.Add(time.Minute), t0.Add(time.Minute)},
			{"later use", t0.Add(time.Hour), t0.Add(time.Hour)},
			// Another process whose clock is behind must not move it back.
			{"earlier clock", t0.Add(30 * time.Minute), t0.Add(time.Hour)},
		}
		for _, st := range steps {
			if err := s.TouchKey(ctx, k.ID, st.at); err != nil {
				t.Fatalf("%s: TouchKey: %v", st.name, err)
			}
			if got := get(t, s, k.Prefix).LastUsedAt; !got.Equal(st.want) {
				t.Errorf("%s: LastUsedAt = %v, want %v", st.name, got, st.want)
			}
		}
		if got := get(t, s, other.Prefix); !got.LastUsedAt.IsZero() {
			t.Errorf("touching one key set LastUsedAt of another to %v", got.LastUsedAt)
		}
		if err := s.TouchKey(ctx, "key_unknown", t0); err != nil {
			t.Errorf("TouchKey(unknown) = %v, want nil: a key revoked and deleted meanwhile is not the caller's error", err)
		}
	})
	exerciseSessions(t, setup, newKey, create)
}
