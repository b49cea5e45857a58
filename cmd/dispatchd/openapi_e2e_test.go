package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/dispatchd/dispatchd/gen/openapi/client"
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
)

// TestOpenAPIGeneratedClient proves the served OpenAPI document with a
// client that oapi-codegen, a generator independent of the protos, made
// from it (gen/openapi/client): the document served is the one the client
// was generated from and is valid OpenAPI 3, and the client posts a
// webhook, dispatches a job, reads both back and pages through jobs
// without a line of hand-written HTTP.
func TestOpenAPIGeneratedClient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		recv := newAPIReceiver(t, apiSecret)
		key, _ := apikey.Generate()
		svc := startService(t, map[string]string{
			"DISPATCHD_DATABASE_URL":           dbURL,
			"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
			"DISPATCHD_API_KEY":                key,
			"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		}, fmt.Sprintf(`
sources:
  - name: demo
    verify: {scheme: bearer, secret: demo-secret-change-me}
    idempotency: {header: webhook-id}
    required: [{pointer: /type, type: string}]
    routes: [receiver]
endpoints:
  - name: receiver
    url: %s/hook
    secret: %s
    timeout: 5s
    retry: {schedule: [1s]}
`, recv.srv.URL, apiSecret))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()

		t.Run("ServedDocument", func(t *testing.T) {
			generated, err := client.GetSwagger()
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/openapi.json", "/openapi.yaml"} {
				served := loadServedDocument(t, svc.httpURL+path)
				if served.Info.Version != version {
					t.Errorf("%s: info.version = %q, want the build's %q", path, served.Info.Version, version)
				}
				if served.Info.Title != "dispatchd API" || served.OpenAPI != "3.0.3" {
					t.Errorf("%s: title %q, openapi %q", path, served.Info.Title, served.OpenAPI)
				}
				served.Info.Version = generated.Info.Version
				if diff := cmp.Diff(documentJSON(t, generated), documentJSON(t, served)); diff != "" {
					t.Errorf("%s is not the document gen/openapi/client was generated from (-generated +served):\n%s", path, diff)
				}
			}
		})

		t.Run("ErrorCodes", func(t *testing.T) {
			// The document's list of error codes is the domain's.
			doc, _ := client.GetSwagger()
			var listed []string
			for _, c := range doc.Components.Schemas["Error"].Value.Properties["code"].Value.Enum {
				listed = append(listed, c.(string))
			}
			for _, c := range []job.Code{job.CodeInvalid, job.CodePayloadTooLarge, job.CodeUnauthenticated, job.CodeNotFound,
				job.CodeAlreadyExists, job.CodeFailedPrecondition, job.CodePermissionDenied, job.CodeRateLimited,
				job.CodeUnavailable, job.CodeInternal} {
				if !slices.Contains(listed, string(c)) {
					t.Errorf("code %q is not in the document's Error.code enum %v", c, listed)
				}
			}
		})

		api, err := client.NewClientWithResponses(svc.httpURL, client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+key)
			return nil
		}), client.WithHTTPClient(&loggingDoer{t: t}))
		if err != nil {
			t.Fatal(err)
		}
		var created []string // job ids, oldest first

		t.Run("PostWebhook", func(t *testing.T) {
			body := map[string]any{"type": "order.created", "order": map[string]any{"id": 42.0}}
			sourceSecret := func(_ context.Context, r *http.Request) error {
				r.Header.Set("Authorization", "Bearer demo-secret-change-me")
				return nil
			}
			resp, err := api.ReceiveWebhookWithResponse(ctx, "demo",
				&client.ReceiveWebhookParams{WebhookId: ptr("delivery-1")}, body, sourceSecret)
			if err != nil {
				t.Fatal(err)
			}
			if resp.JSON200 == nil || resp.JSON200.JobIds == nil || len(*resp.JSON200.JobIds) != 1 || *resp.JSON200.Duplicate {
				t.Fatalf("ReceiveWebhook: %d %s", resp.StatusCode(), resp.Body)
			}
			id := (*resp.JSON200.JobIds)[0]
			created = append(created, id)
			// The job's payload is the body as posted, not a wrapper of it.
			got, err := api.GetJobWithResponse(ctx, id)
			if err != nil || got.JSON200 == nil {
				t.Fatalf("GetJob: %v %s", err, got.Body)
			}
			if diff := cmp.Diff(any(body), got.JSON200.Job.Payload); diff != "" {
				t.Errorf("stored payload (-posted +stored):\n%s", diff)
			}
			if *got.JSON200.Job.Source != "demo" || *got.JSON200.Job.EventId != *resp.JSON200.EventId {
				t.Errorf("job = %+v", got.JSON200.Job)
			}

			// Refusals come back in the documented error shape.
			wrong, err := api.ReceiveWebhookWithResponse(ctx, "demo",
				&client.ReceiveWebhookParams{WebhookId: ptr("delivery-2")}, map[string]any{"type": 7}, sourceSecret)
			if err != nil {
				t.Fatal(err)
			}
			if wrong.JSON400 == nil || wrong.JSON400.Code != client.InvalidArgument || wrong.JSON400.Message == "" {
				t.Errorf("wrong type: %d %s", wrong.StatusCode(), wrong.Body)
			}
			noSecret, err := api.ReceiveWebhookWithResponse(ctx, "demo",
				&client.ReceiveWebhookParams{WebhookId: ptr("delivery-3")}, body)
			if err != nil {
				t.Fatal(err)
			}
			if noSecret.JSON401 == nil || noSecret.JSON401.Code != client.Unauthenticated {
				t.Errorf("API key instead of the source's secret: %d %s", noSecret.StatusCode(), noSecret.Body)
			}
		})

		t.Run("DispatchAndRead", func(t *testing.T) {
			payload := map[string]any{"task": "send_email", "to": "a@example.com"}
			resp, err := api.DispatchJobWithResponse(ctx, client.V1DispatchJobRequest{
				Endpoint: "receiver", Payload: payload, IdempotencyKey: ptr("email-1"),
			})
			if err != nil || resp.JSON200 == nil {
				t.Fatalf("DispatchJob: %v %d %s", err, resp.StatusCode(), resp.Body)
			}
			id := *resp.JSON200.Job.JobId
			created = append(created, id)
			recv.wait(t, id)
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				got, err := api.GetJobWithResponse(ctx, id)
				if err != nil || got.JSON200 == nil {
					t.Fatalf("GetJob: %v %s", err, got.Body)
				}
				if *got.JSON200.Job.State == client.V1JobStateJOBSTATECOMPLETED {
					if diff := cmp.Diff(any(payload), got.JSON200.Job.Payload); diff != "" {
						t.Errorf("payload (-dispatched +read):\n%s", diff)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s is %s, want completed", id, *got.JSON200.Job.State)
				}
			}
			attempts, err := api.ListAttemptsWithResponse(ctx, id)
			if err != nil || attempts.JSON200 == nil || len(*attempts.JSON200.Attempts) != 1 || *(*attempts.JSON200.Attempts)[0].StatusCode != 200 {
				t.Errorf("ListAttempts: %v %s", err, attempts.Body)
			}

			missing, err := api.GetJobWithResponse(ctx, "job_nosuchjob")
			if err != nil || missing.JSONDefault == nil || missing.JSONDefault.Code != client.NotFound || missing.StatusCode() != 404 {
				t.Errorf("GetJob of no job: %v %d %s", err, missing.StatusCode(), missing.Body)
			}
		})

		t.Run("LoggedLatencyInMilliseconds", func(t *testing.T) {
			// DispatchAndRead's delivery was logged (at debug): its latency
			// is in milliseconds, with the unit in the key.
			found := false
			for _, line := range strings.Split(svc.logs.String(), "\n") {
				var entry map[string]any
				if json.Unmarshal([]byte(line), &entry) != nil || entry["msg"] != "worker: delivery attempt" || entry["job_id"] != created[1] {
					continue
				}
				found = true
				ms, ok := entry["latency_ms"].(float64)
				if _, raw := entry["latency"]; raw || !ok || ms <= 0 || ms > 60_000 {
					t.Errorf("delivery log line: latency_ms = %v (a number of milliseconds wanted), latency present: %v\n%s", entry["latency_ms"], raw, line)
				}
			}
			if !found {
				t.Errorf("no delivery log line for job %s", created[1])
			}
		})

		t.Run("StateFilterNames", func(t *testing.T) {
			// DispatchAndRead left a completed job (the webhook's may be
			// completing meanwhile): every name of the state finds it, and
			// only completed jobs.
			list := func(state string) []string {
				t.Helper()
				page, err := api.ListJobsWithResponse(ctx, &client.ListJobsParams{State: ptr(client.ListJobsParamsState(state))})
				if err != nil || page.JSON200 == nil {
					t.Fatalf("ListJobs state=%s: %v %d %s", state, err, page.StatusCode(), page.Body)
				}
				var ids []string
				for _, j := range *page.JSON200.Jobs {
					if *j.State != client.V1JobStateJOBSTATECOMPLETED {
						t.Errorf("state=%s listed a job that is %s", state, *j.State)
					}
					ids = append(ids, *j.JobId)
				}
				return ids
			}
			for _, state := range []string{"completed", "JOB_STATE_COMPLETED", "Completed"} {
				if ids := list(state); !slices.Contains(ids, created[1]) {
					t.Errorf("state=%s listed %v, want the completed job %s among them", state, ids, created[1])
				}
			}
			wrong, err := api.ListJobsWithResponse(ctx, &client.ListJobsParams{State: ptr(client.ListJobsParamsState("done"))})
			if err != nil || wrong.StatusCode() != 400 || wrong.JSONDefault == nil || wrong.JSONDefault.Code != client.InvalidArgument ||
				!strings.Contains(wrong.JSONDefault.Message, "scheduled, available, running, retrying, completed, dead, cancelled") {
				t.Errorf("state=done: %v %d %s, want 400 listing the valid states", err, wrong.StatusCode(), wrong.Body)
			}
		})

		t.Run("RetryOnlyUnanswered", func(t *testing.T) {
			// The seeds' senders' policy: any answer >= 400 is final.
			failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "busy", http.StatusServiceUnavailable)
			}))
			defer failing.Close()
			created, err := api.CreateEndpointWithResponse(ctx, client.V1CreateEndpointRequest{Name: "acknowledging", Spec: &client.V1EndpointSpec{
				Url: failing.URL, RetryOnlyUnanswered: ptr(true), Retry: &client.V1RetryPolicy{Schedule: &[]string{"1s", "1s"}},
			}})
			if err != nil || created.JSON200 == nil || !*created.JSON200.Endpoint.Spec.RetryOnlyUnanswered {
				t.Fatalf("CreateEndpoint: %v %s", err, created.Body)
			}
			resp, err := api.DispatchJobWithResponse(ctx, client.V1DispatchJobRequest{Endpoint: "acknowledging", Payload: map[string]any{"n": 1.0}})
			if err != nil || resp.JSON200 == nil {
				t.Fatalf("DispatchJob: %v %s", err, resp.Body)
			}
			id := *resp.JSON200.Job.JobId
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				got, err := api.GetJobWithResponse(ctx, id)
				if err != nil || got.JSON200 == nil {
					t.Fatalf("GetJob: %v %s", err, got.Body)
				}
				if j := got.JSON200.Job; *j.State == client.V1JobStateJOBSTATEDEAD {
					if *j.Attempts != 1 {
						t.Errorf("a 503 under retry_only_unanswered took %d attempts, want 1", *j.Attempts)
					}
					break
				} else if *j.State == client.V1JobStateJOBSTATERETRYING {
					t.Fatalf("a 503 under retry_only_unanswered is retried: %+v", j)
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s never died", id)
				}
			}
			both, err := api.CreateEndpointWithResponse(ctx, client.V1CreateEndpointRequest{Name: "both", Spec: &client.V1EndpointSpec{
				Url: failing.URL, RetryOnlyUnanswered: ptr(true), RetryClientErrors: ptr(true),
			}})
			if err != nil || both.StatusCode() != 400 || !strings.Contains(string(both.Body), "retry_client_errors") {
				t.Errorf("both policies: %v %d %s, want 400", err, both.StatusCode(), both.Body)
			}
		})

		t.Run("PageThroughJobs", func(t *testing.T) {
			jobs := make([]client.V1DispatchJobRequest, 5)
			for i := range jobs {
				jobs[i] = client.V1DispatchJobRequest{Endpoint: "receiver", Payload: map[string]any{"n": float64(i)}, Delay: ptr("3600s")}
			}
			resp, err := api.BatchDispatchJobsWithResponse(ctx, client.V1BatchDispatchJobsRequest{Jobs: &jobs})
			if err != nil || resp.JSON200 == nil || len(*resp.JSON200.Jobs) != len(jobs) {
				t.Fatalf("BatchDispatchJobs: %v %s", err, resp.Body)
			}
			for _, j := range *resp.JSON200.Jobs {
				created = append(created, *j.Job.JobId)
			}
			var paged []string
			params := &client.ListJobsParams{Endpoint: ptr("receiver"), PageSize: ptr(int32(2))}
			for pages := 0; ; pages++ {
				if pages > len(created) {
					t.Fatalf("more pages than jobs: %v", paged)
				}
				page, err := api.ListJobsWithResponse(ctx, params)
				if err != nil || page.JSON200 == nil {
					t.Fatalf("ListJobs: %v %s", err, page.Body)
				}
				if n := len(*page.JSON200.Jobs); n > 2 {
					t.Fatalf("a page of %d jobs, asked for 2", n)
				}
				for _, j := range *page.JSON200.Jobs {
					paged = append(paged, *j.JobId)
				}
				if *page.JSON200.NextPageToken == "" {
					break
				}
				params.PageToken = page.JSON200.NextPageToken
			}
			want := slices.Clone(created)
			slices.Reverse(want) // newest first
			if diff := cmp.Diff(want, paged); diff != "" {
				t.Errorf("jobs paged through (-created, newest first +listed):\n%s", diff)
			}
		})
	})
}

// loadServedDocument GETs an OpenAPI document and checks that it is
// valid OpenAPI 3.
func loadServedDocument(t *testing.T, url string) *openapi3.T {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Errorf("GET %s: not valid OpenAPI 3: %v", url, err)
	}
	return doc
}

// documentJSON is a document as a generic value, for cmp.Diff.
func documentJSON(t *testing.T, doc *openapi3.T) any {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

// loggingDoer logs each call the generated client makes and its answer's
// status, so that a -v run shows what the client did; a poll's repeats are
// logged once.
type loggingDoer struct {
	t    *testing.T
	mu   sync.Mutex
	last string
}

func (d *loggingDoer) Do(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(r)
	line := fmt.Sprintf("generated client: %s %s", r.Method, r.URL.RequestURI())
	if err != nil {
		line += ": " + err.Error()
	} else {
		line += " → " + resp.Status
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if line != d.last {
		d.t.Log(line)
		d.last = line
	}
	return resp, err
}
