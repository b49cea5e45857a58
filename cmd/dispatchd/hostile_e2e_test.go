package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/server"
)

// TestHostileClients: what a malicious or broken sender does must not get
// past the edge, nor slow down honest senders.
func TestHostileClients(t *testing.T) {
	t.Parallel()
	svc := startService(t, map[string]string{
		"DISPATCHD_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "d.db"),
		"BEARER_SECRET":          bearerSecret,
	}, testConfig)
	client := &http.Client{Timeout: 30 * time.Second}
	addr := strings.TrimPrefix(svc.httpURL, "http://")
	signed := func(id string, body []byte) response {
		return post(t, client, svc.httpURL+"/v1/webhooks/std", signStandard(stdSecret, id, time.Now(), body), body)
	}

	t.Run("AmbiguousOrDeepJSON", func(t *testing.T) {
		for name, body := range map[string]string{
			"duplicate key": `{"type": "a", "type": "b"}`,
			"deep nesting":  strings.Repeat("[", 1000) + strings.Repeat("]", 1000),
			"invalid UTF-8": "{\"type\": \"\xff\xfe\"}",
		} {
			r := signed("msg_"+strings.ReplaceAll(name, " ", "_"), []byte(body))
			if r.status != 400 {
				t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
			}
		}
	})

	t.Run("LyingContentLength", func(t *testing.T) {
		// Content-Length says more than the limit: refused before a byte
		// of the body is read, and the connection is not kept to read it.
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/webhooks/std HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to a 1 GB Content-Length: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	})

	t.Run("GRPCMessageOverCap", func(t *testing.T) {
		conn, err := grpc.NewClient(svc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = dispatchdv1.NewIngestServiceClient(conn).ReceiveWebhook(ctx, &dispatchdv1.ReceiveWebhookRequest{Source: "std", Body: make([]byte, 20<<20)})
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("a 20 MiB gRPC message: %v, want ResourceExhausted", err)
		}
	})

	t.Run("Slowloris", func(t *testing.T) {
		// Connections that send a header byte a second are cut off by the
		// header timeout; honest webhooks meanwhile go through.
		const slow = 50
		var wg sync.WaitGroup
		cut := make(chan time.Duration, slow)
		for range slow {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				start := time.Now()
				fmt.Fprint(conn, "POST /v1/webhooks/std HTTP/1.1\r\n")
				for i := 0; time.Since(start) < 3*server.ReadHeaderTimeout; i++ {
					if _, err := conn.Write([]byte("X")); err != nil {
						cut <- time.Since(start)
						return
					}
					// The server closes its side at the timeout: a read
					// sees it even while writes still succeed.
					conn.SetReadDeadline(time.Now().Add(time.Second))
					if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
						cut <- time.Since(start)
						return
					}
				}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		for i := range 5 {
			start := time.Now()
			if r := signed(fmt.Sprintf("msg_honest_%d", i), []byte(`{"type": "honest"}`)); r.status != 200 {
				t.Errorf("an honest webhook during the attack: %d %s", r.status, r.body)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("an honest webhook took %v during the attack", d)
			}
		}
		wg.Wait()
		close(cut)
		n := 0
		for d := range cut {
			n++
			if d > server.ReadHeaderTimeout+3*time.Second {
				t.Errorf("a slow connection was cut after %v; the header timeout is %v", d, server.ReadHeaderTimeout)
			}
		}
		if n != slow {
			t.Errorf("%d of %d slow connections were cut off", n, slow)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
