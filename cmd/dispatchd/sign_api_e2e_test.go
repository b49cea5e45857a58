package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
)

// TestEndpointSigningAPI: an endpoint created with an ed25519 key shows
// its whpk_ public key and never the key; an update that leaves the key
// out keeps it; https_only refuses an http:// URL outside the allowed
// private networks; and after :rotateSecret a receiver that checks the
// old Bearer secret still gets the job.
func TestEndpointSigningAPI(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newAPIReceiver(t, apiSecret)
		svc, key := startAPIService(t, dbURL, recv)
		_, endpoints, _ := grpcJobs(t, svc)
		ctx := withKey(context.Background(), key)
		const whsk = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
		const whpk = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

		created, err := endpoints.CreateEndpoint(ctx, &dispatchdv1.CreateEndpointRequest{
			Name:   "signed",
			Secret: apiSecret,
			Spec:   &dispatchdv1.EndpointSpec{Url: recv.srv.URL + "/hook", Ed25519Key: whsk, Proxy: "http://u:pw-123@127.0.0.1:3128"},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := endpoints.GetEndpoint(ctx, &dispatchdv1.GetEndpointRequest{Name: "signed"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []*dispatchdv1.Endpoint{created.GetEndpoint(), got.GetEndpoint()} {
			spec := e.GetSpec()
			if spec.GetEd25519PublicKey() != whpk || spec.GetEd25519Key() != "" {
				t.Errorf("spec shows key %q and public key %q, want none and %s", spec.GetEd25519Key(), spec.GetEd25519PublicKey(), whpk)
			}
			if strings.Contains(spec.GetProxy(), "pw-123") {
				t.Errorf("proxy %q shows its password", spec.GetProxy())
			}
		}
		// Writing back what was read changes nothing secret.
		spec := got.GetEndpoint().GetSpec()
		spec.Timeout = nil
		if _, err := endpoints.UpdateEndpoint(ctx, &dispatchdv1.UpdateEndpointRequest{Name: "signed", Spec: spec}); err != nil {
			t.Fatal(err)
		}
		again, _ := endpoints.GetEndpoint(ctx, &dispatchdv1.GetEndpointRequest{Name: "signed"})
		if again.GetEndpoint().GetSpec().GetEd25519PublicKey() != whpk {
			t.Errorf("after an update without the key, public key = %q", again.GetEndpoint().GetSpec().GetEd25519PublicKey())
		}

		_, err = endpoints.CreateEndpoint(ctx, &dispatchdv1.CreateEndpointRequest{
			Name: "plain", Spec: &dispatchdv1.EndpointSpec{Url: "http://203.0.113.7/hook", HttpsOnly: true},
		})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "https_only") {
			t.Errorf("https_only with an http:// public URL: %v, want INVALID_ARGUMENT", err)
		}
		if _, err := endpoints.CreateEndpoint(ctx, &dispatchdv1.CreateEndpointRequest{
			Name: "local", Spec: &dispatchdv1.EndpointSpec{Url: recv.srv.URL + "/hook", HttpsOnly: true},
		}); err != nil {
			t.Errorf("https_only with http:// to an allowed private network: %v", err)
		}

		// Rotation: the receiver keeps checking the old secret (its
		// signature and its Bearer header); the job still completes.
		bearerRecv := newAPIReceiver(t, apiSecret)
		inner := bearerRecv.srv.Config.Handler
		bearerRecv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+apiSecret {
				http.Error(w, "wrong bearer", http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
		if _, err := endpoints.CreateEndpoint(ctx, &dispatchdv1.CreateEndpointRequest{
			Name: "rotating", Secret: apiSecret, Spec: &dispatchdv1.EndpointSpec{Url: bearerRecv.srv.URL + "/hook"},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := endpoints.RotateEndpointSecret(ctx, &dispatchdv1.RotateEndpointSecretRequest{Name: "rotating"}); err != nil {
			t.Fatal(err)
		}
		r := rest(t, http.MethodPost, svc.httpURL+"/v1/jobs", key, map[string]any{"endpoint": "rotating", "payload": map[string]any{"n": 1}})
		if r.status != http.StatusOK {
			t.Fatalf("dispatch: %d %s", r.status, r.body)
		}
		jobID, _ := r.json(t)["job"].(map[string]any)["jobId"].(string)
		bearerRecv.wait(t, jobID)
		deadline := time.Now().Add(20 * time.Second)
		for {
			j := rest(t, http.MethodGet, svc.httpURL+"/v1/jobs/"+jobID, key, nil).json(t)
			if state, _ := j["job"].(map[string]any)["state"].(string); strings.Contains(strings.ToLower(state), "completed") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job never completed: %v", j)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
