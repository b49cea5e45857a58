package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestSvixAndV1aIngestion: a standard-webhooks source accepts a webhook
// signed as Svix sends it (svix-* headers), deduplicates on svix-id, and
// refuses a request that mixes the two header sets; a source with a
// public_key accepts a v1a (ed25519) signature.
func TestSvixAndV1aIngestion(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := `
sources:
  - name: svix
    verify: {scheme: standard-webhooks, secret: ` + stdSecret + `}
  - name: signed
    verify: {scheme: standard-webhooks, public_key: whpk_` + base64.StdEncoding.EncodeToString(pub) + `}
`
	forEachEngine(t, func(t *testing.T, dbURL string) {
		svc := startService(t, map[string]string{"DISPATCHD_DATABASE_URL": dbURL}, cfg)
		client := &http.Client{Timeout: 30 * time.Second}
		body := []byte(`{"type":"invoice.paid"}`)

		svix := func(id string) http.Header {
			h := signStandard(stdSecret, id, time.Now(), body)
			for _, k := range []string{"Id", "Timestamp", "Signature"} {
				h["Svix-"+k] = h["Webhook-"+k]
				delete(h, "Webhook-"+k)
			}
			return h
		}
		r := post(t, client, svc.httpURL+"/v1/webhooks/svix", svix("msg_svix_1"), body)
		if r.status != http.StatusOK {
			t.Fatalf("svix-* headers: status %d, body %s", r.status, r.body)
		}
		first := r.json(t)
		again := post(t, client, svc.httpURL+"/v1/webhooks/svix", svix("msg_svix_1"), body).json(t)
		if again["duplicate"] != true || again["eventId"] != first["eventId"] {
			t.Errorf("the same svix-id again = %v, want the first event as a duplicate", again)
		}
		mixed := svix("msg_svix_2")
		mixed["Webhook-Id"] = mixed["Svix-Id"]
		if r := post(t, client, svc.httpURL+"/v1/webhooks/svix", mixed, body); r.status != http.StatusUnauthorized {
			t.Errorf("mixed header sets: status %d, want 401; body %s", r.status, r.body)
		}

		ts := strconv.FormatInt(time.Now().Unix(), 10)
		sig := ed25519.Sign(priv, []byte("msg_v1a."+ts+"."+string(body)))
		h := http.Header{
			"Content-Type": {"application/json"}, "Webhook-Id": {"msg_v1a"}, "Webhook-Timestamp": {ts},
			"Webhook-Signature": {"v1a," + base64.StdEncoding.EncodeToString(sig)},
		}
		if r := post(t, client, svc.httpURL+"/v1/webhooks/signed", h, body); r.status != http.StatusOK {
			t.Errorf("v1a: status %d, body %s", r.status, r.body)
		}
		if r := post(t, client, svc.httpURL+"/v1/webhooks/signed", h, append(body, ' ')); r.status != http.StatusUnauthorized {
			t.Errorf("v1a over a changed body: status %d, want 401", r.status)
		}
	})
}
