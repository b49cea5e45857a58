// Command demo-receiver is a local endpoint for trying dispatchd: it checks
// each delivery's Authorization: Bearer secret and Standard Webhooks
// signature, prints the envelope, and answers 200.
//
//	go run ./cmd/demo-receiver [-addr 127.0.0.1:9999] [-secret whsec_…[,whsec_…]] [-public-key whpk_…] [-no-bearer] [-fail-every N]
//
// Several secrets are accepted (comma-separated), as a receiver does while
// an endpoint's secret is rotated: any of them may carry a delivery.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dispatchd/dispatchd/internal/verify"
)

// defaultSecret is the demo endpoint's secret in examples/dispatchd.yaml.
const defaultSecret = "whsec_ZGVtby1lbmRwb2ludC1zaWduaW5nLWtleSE="

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "demo-receiver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo-receiver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9999", "address to listen on")
	secret := fs.String("secret", envOr("DEMO_ENDPOINT_SECRET", defaultSecret), "the endpoint's secrets, comma-separated (env DEMO_ENDPOINT_SECRET)")
	publicKey := fs.String("public-key", "", "whpk_… key: also accept v1a (ed25519) signatures")
	noBearer := fs.Bool("no-bearer", false, "do not require Authorization (endpoints with bearer: false)")
	failEvery := fs.Int("fail-every", 0, "answer 500 to every Nth delivery, to watch retries (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var bearers, signatures []verify.Verifier
	for _, s := range strings.Split(*secret, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		b, err := verify.New(verify.Config{Scheme: verify.Bearer, Secrets: []string{s}})
		if err != nil {
			return err
		}
		sig, err := verify.New(verify.Config{Scheme: verify.StandardWebhooks, Secrets: []string{s}, PublicKey: *publicKey})
		if err != nil {
			return err
		}
		bearers, signatures = append(bearers, b), append(signatures, sig)
	}
	if len(signatures) == 0 {
		return errors.New("-secret: give at least one secret")
	}
	bearer, signature := anyOf(bearers), anyOf(signatures)
	if *noBearer {
		bearer = anyOf(nil) // accepts everything
	}
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		if err := bearer.Verify(r.Header, body, now); err != nil {
			fmt.Fprintf(out, "REJECTED (Authorization): %v\n", err)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if err := signature.Verify(r.Header, body, now); err != nil {
			fmt.Fprintf(out, "REJECTED (webhook-signature): %v\n", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		count := n.Add(1)
		var env struct {
			JobID         string          `json:"jobId"`
			AttemptNumber int             `json:"attemptNumber"`
			BatchID       string          `json:"batchId"`
			Records       []any           `json:"records"`
			Payload       json.RawMessage `json:"payload"`
		}
		_ = json.Unmarshal(body, &env)
		if env.BatchID != "" {
			fmt.Fprintf(out, "%s  batch %s: %d records (webhook-id %s)\n", now.Format(time.TimeOnly), env.BatchID, len(env.Records), r.Header.Get("webhook-id"))
		} else {
			fmt.Fprintf(out, "%s  job %s attempt %d: %s\n", now.Format(time.TimeOnly), env.JobID, env.AttemptNumber, env.Payload)
		}
		if *failEvery > 0 && count%int64(*failEvery) == 0 {
			fmt.Fprintln(out, "          answering 500: dispatchd will retry")
			http.Error(w, "demo failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(out, "demo receiver on http://%s/ (checking Bearer and webhook-signature)\n", *addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Shutdown(context.Background())
	}
}

// verifiers accepts what any of its verifiers accepts, and reports the
// first one's refusal otherwise.
type verifiers []verify.Verifier

func anyOf(vs []verify.Verifier) verify.Verifier { return verifiers(vs) }

func (vs verifiers) Verify(h http.Header, body []byte, now time.Time) error {
	var first error
	for _, v := range vs {
		err := v.Verify(h, body, now)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
