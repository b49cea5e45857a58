// This file is written by hand (make generate leaves it in place): it shows
// the generated client used as dispatchd's Go SDK.

package dispatchdv1_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
)

// Dispatch a job to an endpoint over gRPC, wait for its delivery and read
// its attempts. Every call carries an API key (dispatchd keys create).
func Example() {
	conn, err := grpc.NewClient("127.0.0.1:9090", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	jobs := dispatchdv1.NewJobServiceClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+os.Getenv("DISPATCHD_API_KEY"))

	payload, _ := structpb.NewValue(map[string]any{"task": "send_welcome_email", "userId": "u_123"})
	resp, err := jobs.DispatchJob(ctx, &dispatchdv1.DispatchJobRequest{
		Endpoint:       "demo-receiver",
		Payload:        payload,
		IdempotencyKey: "welcome-u_123", // a retry of this call returns the same job
	})
	if err != nil {
		log.Fatal(err) // status codes: InvalidArgument, NotFound, Unauthenticated…
	}
	id := resp.GetJob().GetJobId()

	for {
		got, err := jobs.GetJob(ctx, &dispatchdv1.GetJobRequest{JobId: id})
		if err != nil {
			log.Fatal(err)
		}
		if s := got.GetJob().GetState(); s == dispatchdv1.JobState_JOB_STATE_COMPLETED || s == dispatchdv1.JobState_JOB_STATE_DEAD {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	attempts, err := jobs.ListAttempts(ctx, &dispatchdv1.ListAttemptsRequest{JobId: id})
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range attempts.GetAttempts() {
		fmt.Printf("attempt %d: %s, status %d, %s\n", a.GetAttemptNumber(), a.GetOutcome(), a.GetStatusCode(), a.GetLatency().AsDuration())
	}
}
