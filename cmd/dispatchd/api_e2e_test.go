package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/verify"
)

// apiReceiver is a local endpoint that checks the Standard Webhooks
// signature with the secret it currently knows, like a real receiver.
type apiReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	secret   string
	got      map[string][]time.Time // jobId → arrival times
	rejected int
	arrived  chan string
}

func newAPIReceiver(t *testing.T, secret string) *apiReceiver {
	r := &apiReceiver{secret: secret, got: map[string][]time.Time{}, arrived: make(chan string, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		v, err := verify.New(verify.Config{Scheme: verify.StandardWebhooks, Secrets: []string{r.secret}})
		if err == nil {
			err = v.Verify(req.Header, body, time.Now())
		}
		if err != nil {
			r.rejected++
			r.mu.Unlock()
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var env struct{ JobID string }
		json.Unmarshal(body, &env)
		r.got[env.JobID] = append(r.got[env.JobID], time.Now())
		r.mu.Unlock()
		r.arrived <- env.JobID
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *apiReceiver) wait(t *testing.T, jobID string) time.Time {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		at := r.got[jobID]
		r.mu.Unlock()
		if len(at) > 0 {
			return at[0]
		}
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("job %s never arrived", jobID)
		}
	}
}

// rest calls the REST face with an API key.
func rest(t *testing.T, method, url, key string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, url, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

const apiSecret = "whsec_ZGVtby1lbmRwb2ludC1zaWduaW5nLWtleSE="

func startAPIService(t *testing.T, dbURL string, recv *apiReceiver) (*service, string) {
	t.Helper()
	bootstrap, _ := apikey.Generate()
	cfg := fmt.Sprintf(`
default_endpoint: receiver
endpoints:
  - name: receiver
    url: %s/hook
    secret: %s
    timeout: 5s
    retry: {schedule: [1s, 1s, 1s]}
`, recv.srv.URL, apiSecret)
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL":           dbURL,
		"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
		"DISPATCHD_API_KEY":                bootstrap,
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
	}, cfg)
	return svc, bootstrap
}

func grpcJobs(t *testing.T, svc *service) (dispatchdv1.JobServiceClient, dispatchdv1.EndpointServiceClient, dispatchdv1.KeyServiceClient) {
	conn, err := grpc.NewClient(svc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return dispatchdv1.NewJobServiceClient(conn), dispatchdv1.NewEndpointServiceClient(conn), dispatchdv1.NewKeyServiceClient(conn)
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

func TestJobsAPI(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newAPIReceiver(t, apiSecret)
		svc, key := startAPIService(t, dbURL, recv)
		jobs, endpoints, keys := grpcJobs(t, svc)
		ctx, cancel := context.WithTimeout(withKey(context.Background(), key), 60*time.Second)
		defer cancel()
		payload, _ := structpb.NewValue(map[string]any{"order": 42.0})

		waitState := func(t *testing.T, id string, want dispatchdv1.JobState) *dispatchdv1.Job {
			t.Helper()
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				got, err := jobs.GetJob(ctx, &dispatchdv1.GetJobRequest{JobId: id})
				if err != nil {
					t.Fatal(err)
				}
				if got.GetJob().GetState() == want {
					return got.GetJob()
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s is %v, want %v", id, got.GetJob().GetState(), want)
				}
			}
		}

		t.Run("DispatchOverGRPC", func(t *testing.T) {
			resp, err := jobs.DispatchJob(ctx, &dispatchdv1.DispatchJobRequest{Endpoint: "receiver", Payload: payload})
			if err != nil {
				t.Fatal(err)
			}
			id := resp.GetJob().GetJobId()
			recv.wait(t, id)
			j := waitState(t, id, dispatchdv1.JobState_JOB_STATE_COMPLETED)
			if j.GetAttempts() != 1 || j.GetPayload().GetStructValue().GetFields()["order"].GetNumberValue() != 42 {
				t.Errorf("job = %v", j)
			}
			atts, err := jobs.ListAttempts(ctx, &dispatchdv1.ListAttemptsRequest{JobId: id})
			if err != nil || len(atts.GetAttempts()) != 1 || atts.GetAttempts()[0].GetStatusCode() != 200 || atts.GetAttempts()[0].GetOutcome() != "completed" {
				t.Errorf("attempts = %v, %v", atts, err)
			}
		})

		t.Run("DispatchOverREST", func(t *testing.T) {
			r := rest(t, "POST", svc.httpURL+"/v1/jobs", key, map[string]any{"endpoint": "receiver", "payload": map[string]any{"n": 1}})
			if r.status != 200 {
				t.Fatalf("POST /v1/jobs: %d %s", r.status, r.body)
			}
			id := r.json(t)["job"].(map[string]any)["jobId"].(string)
			recv.wait(t, id)
			waitState(t, id, dispatchdv1.JobState_JOB_STATE_COMPLETED)
			got := rest(t, "GET", svc.httpURL+"/v1/jobs/"+id+"/attempts", key, nil)
			if got.status != 200 || !strings.Contains(string(got.body), `"statusCode":200`) {
				t.Errorf("GET attempts: %d %s", got.status, got.body)
			}
			// What was sent, the bearer secret masked.
			for _, want := range []string{`"endpoint":"receiver"`, `"requestHeadersKnown":true`, `"Webhook-Id":"` + id + `"`, `"Authorization":"Bearer ***"`, `"Webhook-Signature":"v1,***"`} {
				if !strings.Contains(string(got.body), want) {
					t.Errorf("GET attempts lacks %s: %s", want, got.body)
				}
			}
		})

		t.Run("ListJobsByPayloadText", func(t *testing.T) {
			marker := fmt.Sprintf("needle-%d", time.Now().UnixNano())
			var want []string
			for i := range 3 {
				note := "hay"
				if i != 1 {
					note = strings.ToUpper(marker)
				}
				r := rest(t, "POST", svc.httpURL+"/v1/jobs", key, map[string]any{"endpoint": "receiver", "payload": map[string]any{"note": note}})
				if r.status != 200 {
					t.Fatalf("POST /v1/jobs: %d %s", r.status, r.body)
				}
				if i != 1 {
					want = append([]string{r.json(t)["job"].(map[string]any)["jobId"].(string)}, want...)
				}
			}
			var got []string
			path := "/v1/jobs?pageSize=1&text=" + marker
			for page := 0; page < 10; page++ {
				r := rest(t, "GET", svc.httpURL+path, key, nil)
				if r.status != 200 {
					t.Fatalf("GET %s: %d %s", path, r.status, r.body)
				}
				body := r.json(t)
				list, _ := body["jobs"].([]any)
				if n, _ := strconv.Atoi(fmt.Sprint(body["searched"])); n < len(list) {
					t.Errorf("page %d: searched %v for %d jobs", page, body["searched"], len(list))
				}
				for _, j := range list {
					got = append(got, j.(map[string]any)["jobId"].(string))
				}
				tok, _ := body["nextPageToken"].(string)
				if tok == "" {
					break
				}
				path = "/v1/jobs?pageSize=1&text=" + marker + "&pageToken=" + tok
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("jobs with %q: %v, want %v", marker, got, want)
			}
			other := rest(t, "GET", svc.httpURL+"/v1/jobs?pageSize=1&text=other&pageToken=x", key, nil)
			if other.status != 400 {
				t.Errorf("a bad token: %d, want 400", other.status)
			}
		})

		t.Run("Idempotent", func(t *testing.T) {
			req := &dispatchdv1.DispatchJobRequest{Endpoint: "receiver", Payload: payload, IdempotencyKey: "order-42"}
			first, err := jobs.DispatchJob(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			second, err := jobs.DispatchJob(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if first.GetDuplicate() || !second.GetDuplicate() || second.GetJob().GetJobId() != first.GetJob().GetJobId() {
				t.Errorf("first %v, second %v: want the same job, the second a duplicate", first, second)
			}
		})

		t.Run("ScheduledNotBeforeItsTime", func(t *testing.T) {
			resp, err := jobs.DispatchJob(ctx, &dispatchdv1.DispatchJobRequest{Endpoint: "receiver", Payload: payload, Delay: durationpb.New(1500 * time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			j := resp.GetJob()
			if j.GetState() != dispatchdv1.JobState_JOB_STATE_SCHEDULED {
				t.Errorf("state = %v, want scheduled", j.GetState())
			}
			arrived := recv.wait(t, j.GetJobId())
			if runAt := j.GetRunAt().AsTime(); arrived.Before(runAt) {
				t.Errorf("delivered at %v, before its run time %v", arrived, runAt)
			}
		})

		t.Run("CancelAndRetry", func(t *testing.T) {
			resp, err := jobs.DispatchJob(ctx, &dispatchdv1.DispatchJobRequest{Endpoint: "receiver", Payload: payload, Delay: durationpb.New(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			id := resp.GetJob().GetJobId()
			c, err := jobs.CancelJob(ctx, &dispatchdv1.CancelJobRequest{JobId: id})
			if err != nil || c.GetJob().GetState() != dispatchdv1.JobState_JOB_STATE_CANCELLED {
				t.Fatalf("CancelJob = %v, %v", c, err)
			}
			if _, err := jobs.CancelJob(ctx, &dispatchdv1.CancelJobRequest{JobId: id}); status.Code(err) != codes.FailedPrecondition {
				t.Errorf("cancelling twice: %v, want FailedPrecondition", err)
			}
			r := rest(t, "POST", svc.httpURL+"/v1/jobs/"+id+":retry", key, nil)
			if r.status != 200 {
				t.Fatalf("POST :retry: %d %s", r.status, r.body)
			}
			recv.wait(t, id)
			waitState(t, id, dispatchdv1.JobState_JOB_STATE_COMPLETED)
		})

		t.Run("RotateSecretWithoutAFailedDelivery", func(t *testing.T) {
			recv2 := newAPIReceiver(t, "")
			created, err := endpoints.CreateEndpoint(ctx, &dispatchdv1.CreateEndpointRequest{
				Name: "rotating",
				Spec: &dispatchdv1.EndpointSpec{Url: recv2.srv.URL + "/hook", Timeout: durationpb.New(5 * time.Second)},
			})
			if err != nil {
				t.Fatal(err)
			}
			recv2.mu.Lock()
			recv2.secret = created.GetSecret() // the receiver is set up with the first secret
			recv2.mu.Unlock()
			send := func() {
				r, err := jobs.DispatchJob(ctx, &dispatchdv1.DispatchJobRequest{Endpoint: "rotating", Payload: payload})
				if err != nil {
					t.Fatal(err)
				}
				id := r.GetJob().GetJobId()
				defer func() {
					if t.Failed() {
						atts, _ := jobs.ListAttempts(ctx, &dispatchdv1.ListAttemptsRequest{JobId: id})
						j, _ := jobs.GetJob(ctx, &dispatchdv1.GetJobRequest{JobId: id})
						t.Logf("job %v attempts %v", j, atts)
					}
				}()
				recv2.wait(t, id)
			}
			send()
			rotated, err := endpoints.RotateEndpointSecret(ctx, &dispatchdv1.RotateEndpointSecretRequest{Name: "rotating", GracePeriod: durationpb.New(time.Hour)})
			if err != nil || rotated.GetSecret() == "" || rotated.GetSecret() == created.GetSecret() {
				t.Fatalf("RotateEndpointSecret = %v, %v", rotated, err)
			}
			send() // the receiver still knows only the old secret
			recv2.mu.Lock()
			recv2.secret = rotated.GetSecret() // it switches at its own pace
			recv2.mu.Unlock()
			send()
			recv2.mu.Lock()
			defer recv2.mu.Unlock()
			if recv2.rejected != 0 {
				t.Errorf("%d deliveries failed the receiver's signature check during the rotation", recv2.rejected)
			}
		})

		t.Run("RevokedKey", func(t *testing.T) {
			created, err := keys.CreateKey(ctx, &dispatchdv1.CreateKeyRequest{Name: "ci"})
			if err != nil {
				t.Fatal(err)
			}
			k := created.GetKey()
			if r := rest(t, "GET", svc.httpURL+"/v1/jobs?pageSize=1", k, nil); r.status != 200 {
				t.Fatalf("a fresh key: %d %s", r.status, r.body)
			}
			if _, err := keys.RevokeKey(ctx, &dispatchdv1.RevokeKeyRequest{KeyId: created.GetApiKey().GetKeyId()}); err != nil {
				t.Fatal(err)
			}
			r := rest(t, "GET", svc.httpURL+"/v1/jobs", k, nil)
			if r.status != 401 || r.json(t)["code"] != "unauthenticated" {
				t.Errorf("a revoked key over REST: %d %s, want 401 unauthenticated", r.status, r.body)
			}
			_, err = jobs.ListJobs(withKey(context.Background(), k), &dispatchdv1.ListJobsRequest{})
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("a revoked key over gRPC: %v, want Unauthenticated", err)
			}
			if r := rest(t, "GET", svc.httpURL+"/v1/jobs", "", nil); r.status != 401 {
				t.Errorf("no key: %d %s, want 401", r.status, r.body)
			}
		})

		t.Run("DispatchedCompatible", func(t *testing.T) {
			r := rest(t, "POST", svc.httpURL+"/api/jobs/dispatch", key, map[string]any{"payload": map[string]any{"task": "send_email"}, "maxRetries": 2})
			if r.status != 200 {
				t.Fatalf("POST /api/jobs/dispatch: %d %s", r.status, r.body)
			}
			m := r.json(t)
			id, _ := m["jobId"].(string)
			if id == "" || m["status"] != "QUEUED" {
				t.Fatalf("response = %s, want {jobId, status: QUEUED}", r.body)
			}
			recv.wait(t, id)
			waitState(t, id, dispatchdv1.JobState_JOB_STATE_COMPLETED)
			g := rest(t, "GET", svc.httpURL+"/api/jobs/"+id, key, nil)
			gm := g.json(t)
			if g.status != 200 || gm["jobId"] != id || gm["status"] != "COMPLETED" || gm["scheduledFor"] == nil {
				t.Errorf("GET /api/jobs/%s = %d %s", id, g.status, g.body)
			}
			big := rest(t, "POST", svc.httpURL+"/api/jobs/dispatch", key, map[string]any{"payload": map[string]any{"data": strings.Repeat("x", 11000)}})
			if big.status != 400 || !strings.Contains(string(big.body), "payload") {
				t.Errorf("an 11 KB payload: %d %s, want 400 naming payload", big.status, big.body)
			}
		})

		t.Run("Errors", func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				body   map[string]any
				status int
				field  string
			}{
				{"no endpoint", map[string]any{"payload": 1}, 400, "endpoint"},
				{"unknown endpoint", map[string]any{"endpoint": "nope", "payload": 1}, 404, "endpoint"},
				{"no payload", map[string]any{"endpoint": "receiver"}, 400, "payload"},
				{"too far ahead", map[string]any{"endpoint": "receiver", "payload": 1, "delay": "40000000s"}, 400, "run_at"},
				{"bad retry", map[string]any{"endpoint": "receiver", "payload": 1, "retry": map[string]any{"preset": "never"}}, 400, "retry"},
			} {
				r := rest(t, "POST", svc.httpURL+"/v1/jobs", key, tc.body)
				if r.status != tc.status || !strings.Contains(r.json(t)["message"].(string), tc.field) {
					t.Errorf("%s: %d %s, want %d naming %s", tc.name, r.status, r.body, tc.status, tc.field)
				}
			}
			if r := rest(t, "GET", svc.httpURL+"/v1/jobs/job_nope", key, nil); r.status != 404 {
				t.Errorf("unknown job: %d %s", r.status, r.body)
			}
			if r := rest(t, "GET", svc.httpURL+"/openapi.json", "", nil); r.status != 200 || !strings.Contains(string(r.body), "/v1/jobs") {
				t.Errorf("GET /openapi.json: %d", r.status)
			}
		})
	})
}
