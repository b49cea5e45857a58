package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/config"
	"github.com/dispatchd/dispatchd/internal/secretbox"
)

// TestSecretsEncryptedAtRest: with no key configured, an SQLite install
// creates its key file (0600) beside the database, and after a webhook, a
// delivery and a refused webhook neither the source's nor the endpoint's
// secret is in the database file or its WAL — nor, with
// DISPATCHD_ENCRYPT_PAYLOADS, the webhook body, the receiver's answer (the
// attempt's excerpt), the refused body (the request log's excerpt) or the
// catalog's example, all of which the API still shows. "encryption rotate"
// re-encrypts them under a new first key, and a service given only the new
// key still verifies the source, signs deliveries with the endpoint's
// secret and shows what was stored before.
func TestSecretsEncryptedAtRest(t *testing.T) {
	const srcSecret = "source-bearer-secret-in-clear-nowhere"
	const epSecret = "endpoint-secret-in-clear-nowhere"
	// Markers in each payload that payload encryption seals.
	const bodyMarker, answerMarker, refusedMarker = "body-marker-in-clear-nowhere", "answer-marker-in-clear-nowhere", "refused-marker-in-clear-nowhere"
	auths := make(chan string, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		auths <- req.Header.Get("Authorization")
		io.WriteString(w, `{"received":"`+answerMarker+`"}`)
	}))
	t.Cleanup(recv.Close)
	cfg := fmt.Sprintf(`
sources:
  - name: shop
    verify: {scheme: bearer, secret: %s}
    event_type: {json: /type}
    routes: [receiver]
endpoints:
  - {name: receiver, url: "%s/hook", secret: %s, retry: {schedule: [1s]}}
`, srcSecret, recv.URL, epSecret)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "dispatchd.db")
	apiKey, _ := apikey.Generate()
	env := map[string]string{
		"DISPATCHD_DATABASE_URL":           "sqlite:" + dbPath,
		"DISPATCHD_ROLES":                  "gateway,ingest,worker,api",
		"DISPATCHD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
		"DISPATCHD_ENCRYPT_PAYLOADS":       "true",
		"DISPATCHD_API_KEY":                apiKey,
	}
	client := &http.Client{Timeout: 30 * time.Second}
	// deliver sends a webhook, waits for its delivery and returns its job.
	deliver := func(t *testing.T, svc *service, id string) (jobID string) {
		t.Helper()
		h := http.Header{"Authorization": {"Bearer " + srcSecret}, "Content-Type": {"application/json"}, "Webhook-Id": {id}}
		r := post(t, client, svc.httpURL+"/v1/webhooks/shop", h, []byte(`{"type":"order.created","note":"`+bodyMarker+`"}`))
		if r.status != http.StatusOK {
			t.Fatalf("webhook: status %d, body %s", r.status, r.body)
		}
		var answer struct{ JobIDs []string }
		if err := json.Unmarshal(r.body, &answer); err != nil || len(answer.JobIDs) != 1 {
			t.Fatalf("webhook answer %s: %v", r.body, err)
		}
		select {
		case got := <-auths:
			if got != "Bearer "+epSecret {
				t.Errorf("delivery Authorization = %q, want the endpoint's secret", got)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no delivery; logs:\n%s", svc.logs.String())
		}
		return answer.JobIDs[0]
	}
	// shown waits until the API shows the job's attempt with the
	// receiver's answer (so the attempt is stored), and checks that it
	// shows the refused body and the catalog's example.
	shown := func(t *testing.T, svc *service, jobID string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r := rest(t, "GET", svc.httpURL+"/v1/jobs/"+jobID+"/attempts", apiKey, nil)
			if r.status == http.StatusOK && strings.Contains(string(r.body), answerMarker) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("attempts of %s: %d %s", jobID, r.status, r.body)
			}
		}
		// A request's excerpt is bytes in the API's JSON (base64); the
		// catalog's example is the JSON itself.
		for path, want := range map[string]string{
			"/v1/requests?source=shop": base64.StdEncoding.EncodeToString([]byte(`{"forged":"` + refusedMarker + `"}`)),
			"/v1/event-types":          `"note":"` + bodyMarker + `"`,
		} {
			r := rest(t, "GET", svc.httpURL+path, apiKey, nil)
			if r.status != http.StatusOK || !strings.Contains(strings.ReplaceAll(string(r.body), `": "`, `":"`), want) {
				t.Errorf("GET %s = %d %s; want %s shown", path, r.status, r.body, want)
			}
		}
	}
	// inClear greps the database and its WAL for either secret.
	inClear := func(t *testing.T) {
		t.Helper()
		files, _ := filepath.Glob(dbPath + "*")
		for _, f := range files {
			if strings.HasSuffix(f, keyFileSuffix) {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{srcSecret, epSecret, bodyMarker, answerMarker, refusedMarker} {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds the secret %q in clear", filepath.Base(f), s)
				}
			}
		}
		if len(files) < 2 {
			t.Errorf("found only %v: no database file to grep", files)
		}
	}

	var firstJob string
	t.Run("first start", func(t *testing.T) {
		svc := startService(t, env, cfg)
		firstJob = deliver(t, svc, "d1")
		h := http.Header{"Authorization": {"Bearer wrong"}, "Content-Type": {"application/json"}}
		if r := post(t, client, svc.httpURL+"/v1/webhooks/shop", h, []byte(`{"forged":"`+refusedMarker+`"}`)); r.status != http.StatusUnauthorized {
			t.Fatalf("forged webhook: status %d, body %s", r.status, r.body)
		}
		shown(t, svc, firstJob)
		info, err := os.Stat(dbPath + keyFileSuffix)
		if err != nil {
			t.Fatalf("no key file beside the database: %v", err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode %v, want 0600", perm)
		}
		inClear(t)
	})

	b, err := os.ReadFile(dbPath + keyFileSuffix)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, newKey := strings.TrimSpace(string(b)), secretbox.GenerateKey()
	newRing, _ := secretbox.ParseKeyring(newKey)
	getenv := func(k string) string {
		switch k {
		case "DISPATCHD_DATABASE_URL":
			return env[k]
		case "DISPATCHD_ENCRYPTION_KEY":
			return newKey + "," + oldKey
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"dispatchd", "encryption", "rotate"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("encryption rotate: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "re-encrypted 2 specs under key "+newRing.CurrentKeyID()) {
		t.Errorf("encryption rotate printed %q", out.String())
	}

	t.Run("after rotate, only the new key", func(t *testing.T) {
		e := map[string]string{"DISPATCHD_ENCRYPTION_KEY": newKey}
		for k, v := range env {
			e[k] = v
		}
		svc := startService(t, e, cfg)
		shown(t, svc, firstJob)
		shown(t, svc, deliver(t, svc, "d2"))
		inClear(t)
	})
}

// TestPostgresNeedsAKey: PostgreSQL refuses to start without an encryption
// key, saying how to make one, unless plaintext secrets are allowed.
func TestPostgresNeedsAKey(t *testing.T) {
	dbURL := engines[1].newURL(t)
	getenv := func(k string) string {
		if k == "DISPATCHD_DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"dispatchd", "encryption", "rotate"}, getenv, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "dispatchd encryption generate-key") || !strings.Contains(err.Error(), "--allow-plaintext-secrets") {
		t.Errorf("without a key: %v, want a refusal saying how to make a key", err)
	}
	s, err := config.Parse("serve", []string{"--database-url", dbURL, "--allow-plaintext-secrets"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), s)
	if err != nil {
		t.Fatalf("with --allow-plaintext-secrets: %v", err)
	}
	st.Close()
}
