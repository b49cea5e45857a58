package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
)

// TestGRPCIngest submits webhooks the way an internal gRPC caller would:
// the same rules and the same error codes as through the HTTP gateway.
func TestGRPCIngest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dbURL string) {
		svc := startService(t, map[string]string{"DISPATCHD_DATABASE_URL": dbURL, "BEARER_SECRET": bearerSecret}, testConfig)
		conn, err := grpc.NewClient(svc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := dispatchdv1.NewIngestServiceClient(conn)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		body := []byte(`{"type": "grpc"}`)
		req := &dispatchdv1.ReceiveWebhookRequest{Source: "std", Body: body, Headers: map[string]string{}}
		for k, v := range signStandard(stdSecret, "msg_grpc", time.Now(), body) {
			req.Headers[k] = v[0] // any case: the service matches names case-insensitively
		}
		first, err := client.ReceiveWebhook(ctx, req)
		if err != nil {
			t.Fatalf("ReceiveWebhook: %v", err)
		}
		if first.GetDuplicate() || first.GetEventId() == "" || len(first.GetJobIds()) != 2 {
			t.Errorf("first = %v, want a new event with 2 jobs", first)
		}
		again, err := client.ReceiveWebhook(ctx, req)
		if err != nil {
			t.Fatalf("ReceiveWebhook repeat: %v", err)
		}
		if !again.GetDuplicate() || again.GetEventId() != first.GetEventId() {
			t.Errorf("repeat = %v, want duplicate of %s", again, first.GetEventId())
		}

		for _, tc := range []struct {
			name   string
			req    *dispatchdv1.ReceiveWebhookRequest
			code   codes.Code
			reason string
		}{
			{"unknown source", &dispatchdv1.ReceiveWebhookRequest{Source: "nope", Body: body}, codes.NotFound, "NOT_FOUND"},
			{"no signature", &dispatchdv1.ReceiveWebhookRequest{Source: "std", Body: body}, codes.Unauthenticated, "UNAUTHENTICATED"},
			{"bad JSON", &dispatchdv1.ReceiveWebhookRequest{Source: "limited", Body: []byte("{")}, codes.InvalidArgument, "INVALID_ARGUMENT"},
			{"too large", &dispatchdv1.ReceiveWebhookRequest{Source: "limited", Body: make([]byte, 10241)}, codes.InvalidArgument, "PAYLOAD_TOO_LARGE"},
		} {
			_, err := client.ReceiveWebhook(ctx, tc.req)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Errorf("%s: code = %v (%v), want %v", tc.name, st.Code(), err, tc.code)
				continue
			}
			if reason := errorReason(st); reason != tc.reason {
				t.Errorf("%s: ErrorInfo reason = %q, want %q", tc.name, reason, tc.reason)
			}
		}

		// Exhaust the limited source's burst: the refusal carries RetryInfo.
		var limited *status.Status
		for range 5 {
			_, err := client.ReceiveWebhook(ctx, &dispatchdv1.ReceiveWebhookRequest{Source: "limited", Body: []byte(`{}`)})
			if status.Code(err) == codes.ResourceExhausted {
				limited = status.Convert(err)
				break
			}
		}
		if limited == nil {
			t.Fatalf("the limited source never answered ResourceExhausted")
		}
		var delay time.Duration
		for _, d := range limited.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				delay = ri.GetRetryDelay().AsDuration()
			}
		}
		if delay < time.Second {
			t.Errorf("RetryInfo delay = %v, want at least 1s", delay)
		}

		health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health = %v, %v; want SERVING", health, err)
		}
		if !listsService(t, ctx, conn, "dispatchd.v1.IngestService") {
			t.Errorf("server reflection does not list dispatchd.v1.IngestService")
		}
	})
}

func errorReason(st *status.Status) string {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetReason()
		}
	}
	return ""
}

// listsService asks server reflection (what grpcurl uses) for the services.
func listsService(t *testing.T, ctx context.Context, conn *grpc.ClientConn, name string) bool {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}); err != nil {
		t.Fatalf("reflection send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection recv: %v", err)
	}
	for _, s := range resp.GetListServicesResponse().GetService() {
		if s.GetName() == name {
			return true
		}
	}
	return false
}
