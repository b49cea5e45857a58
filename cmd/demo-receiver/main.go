// Command demo-receiver is a local endpoint for trying dispatchd: it checks
// each delivery's Authorization: Bearer secret and Standard Webhooks
// signature, prints the envelope, and answers 200.
//
//	go run ./cmd/demo-receiver [-addr 127.0.0.1:9999] [-secret whsec_…] [-fail-every N]
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
	secret := fs.String("secret", envOr("DEMO_ENDPOINT_SECRET", defaultSecret), "the endpoint's secret (env DEMO_ENDPOINT_SECRET)")
	failEvery := fs.Int("fail-every", 0, "answer 500 to every Nth delivery, to watch retries (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bearer, err := verify.New(verify.Config{Scheme: verify.Bearer, Secrets: []string{*secret}})
	if err != nil {
		return err
	}
	signature, err := verify.New(verify.Config{Scheme: verify.StandardWebhooks, Secrets: []string{*secret}})
	if err != nil {
		return err
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

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
