package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The fixed clock of every test: 2026-03-01T12:00:00Z.
var testNow = time.Unix(1772366400, 0).UTC()

func testClock() time.Time { return testNow }

// Test secrets. whsecA and whsecB are "whsec_" + base64 of 32 ASCII bytes;
// rawSecret is a Dispatched-style secret that signs with its own bytes.
const (
	whsecA    = "whsec_ZGlzcGF0Y2hkLWRlbGl2ZXJ5LXRlc3Qta2V5LTAwMDE=" // "dispatchd-delivery-test-key-0001"
	whsecB    = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tMDA="     // "second-secret-for-rotation-00"
	rawSecret = "raw-secret-for-bearer-receivers"
)

const testUserAgent = "dispatchd/test"

func newTestClient() *Client { return NewClient(nil, testClock, testUserAgent) }

// received is one request as the test server saw it.
type received struct {
	header     http.Header
	body       []byte
	protoMajor int
}

// receiver starts a server that records every request it gets, after
// reading the body in full, then lets answer respond.
func receiver(t *testing.T, answer http.HandlerFunc) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server reading body: %v", err)
		}
		got <- received{header: r.Header.Clone(), body: body, protoMajor: r.ProtoMajor}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// counting returns a handler that counts its requests and answers 200.
func counting(n *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, `{"status":"ok"}`)
	}
}

// reply returns a handler that sets headers (name, value pairs), writes the
// status and then the body.
func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// refSign is the test's own signer for one secret, written from the
// Standard Webhooks specification and anchored by known answers computed
// with openssl (TestSignKnownAnswers).
func refSign(secret, msgID string, ts int64, body []byte) string {
	key := []byte(secret)
	if enc, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(enc); err == nil {
			key = k
		}
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", msgID, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// checkNoSecret fails if a message of res contains any of the secrets.
func checkNoSecret(t *testing.T, res Result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(res.Error, s) || strings.Contains(res.ErrorClass, s) {
			t.Errorf("result %+v contains a secret", res)
		}
	}
}

// one returns a single-record request to url.
func one(url string, secrets ...string) Request {
	if len(secrets) == 0 {
		secrets = []string{whsecA}
	}
	return Request{
		Endpoint: Endpoint{Name: "orders", URL: url, Secrets: secrets},
		Records:  []Record{{JobID: "job_01", AttemptID: "att_01", AttemptNumber: 1, Payload: []byte(`{"hello":"world"}`)}},
	}
}
