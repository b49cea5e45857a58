package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/dispatchd/dispatchd/internal/job"
)

// TestRotationNeverFailsADelivery: during a rotation's grace period a
// receiver that knows only the old secret and one that knows only the new
// one both get every job delivered, checking the Bearer header (the
// Dispatched way) and the signature with the one secret they hold. The
// old-secret receiver's refused try is in the attempt log.
func TestRotationNeverFailsADelivery(t *testing.T) {
	const newSecret = "whsec_bmV3LXNlY3JldC1hZnRlci1yb3RhdGlvbi0wMQ=="
	for _, tc := range []struct {
		name  string
		knows string
		tries int // requests the receiver sees for one job
	}{
		{"receiver knows only the old secret", secret, 2},
		{"receiver knows only the new secret", newSecret, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
				b := setup(t, open, func(e *job.EndpointSpec) {
					e.Secrets = []string{newSecret, secret}
					e.PreviousSecretExpiresAt = time.Now().Add(time.Hour)
				})
				wh, err := standardwebhooks.NewWebhook(tc.knows)
				if err != nil {
					t.Fatal(err)
				}
				b.recv.setAnswer(func(_ int, d delivered) (int, http.Header, string) {
					if d.header.Get("Authorization") != "Bearer "+tc.knows {
						return 401, nil, `{"error":"bad token"}`
					}
					if err := wh.Verify(d.body, d.header); err != nil {
						return 401, nil, `{"error":"bad signature"}`
					}
					return 200, nil, `{"status":"ok"}`
				})
				id := b.enqueue(t, `{"n": 1}`, nil)
				j := b.waitJob(t, id, "finished", func(j job.Job) bool { return j.State == job.StateCompleted || j.State == job.StateDead })
				if j.State != job.StateCompleted || j.Attempts != 1 {
					t.Fatalf("job = %s after %d attempts (%s), want completed after 1", j.State, j.Attempts, j.LastError)
				}
				atts, err := b.store.ListAttempts(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if len(atts) != tc.tries {
					t.Fatalf("%d attempts recorded, want %d: %+v", len(atts), tc.tries, atts)
				}
				if tc.tries == 2 && (atts[0].StatusCode != 401 || atts[0].Number != 1 || atts[1].StatusCode != 200 || atts[1].Outcome != "completed") {
					t.Errorf("attempts = %+v, want the 401 with the new secret, then the 200 with the old one", atts)
				}
				if last := atts[len(atts)-1]; last.StatusCode != 200 {
					t.Errorf("last attempt = %+v", last)
				}
			})
		})
	}
}

// TestNoBearer: bearer: false sends no Authorization header, so a
// receiver that checks signatures never sees the HMAC key.
func TestNoBearer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open func(t *testing.T) job.Store) {
		b := setup(t, open, func(e *job.EndpointSpec) { e.NoBearer = true })
		id := b.enqueue(t, `{}`, nil)
		d := b.recv.next(t)
		if got := d.header.Get("Authorization"); got != "" {
			t.Errorf("Authorization = %q, want none", got)
		}
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(d.body, d.header); err != nil {
			t.Errorf("signature: %v", err)
		}
		b.waitJob(t, id, "completed", state(job.StateCompleted))
	})
}
