package delivery

import (
	"context"

	"github.com/dispatchd/dispatchd/internal/job"
)

// SendTest delivers payload to ep once, as attempt a of a job that is not
// stored (an endpoint test from the API), with the signing, egress and
// SSRF guard of every delivery, and returns a with what happened.
func (c *Client) SendTest(ctx context.Context, ep job.EndpointSpec, a job.Attempt, payload []byte) job.Attempt {
	res := c.Deliver(ctx, Request{
		Endpoint: EndpointFromSpec(ep, a.StartedAt),
		Records:  []Record{{JobID: a.JobID, AttemptID: a.ID, AttemptNumber: a.Number, Payload: payload}},
	})
	a.Latency, a.StatusCode, a.Outcome = res.Latency, res.StatusCode, res.Outcome.String()
	a.ErrorClass, a.Error, a.ResponseExcerpt = res.ErrorClass, res.Error, res.Excerpt
	return a
}
