// Package rpcerr turns domain errors into gRPC statuses, in one table. The
// HTTP gateway maps the gRPC code to an HTTP status (runtime.HTTPStatusFromCode)
// and reads the details back for the JSON error body, so a gRPC client and a
// REST client see the same code and message.
package rpcerr

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Domain is the ErrorInfo domain of dispatchd's errors.
const Domain = "dispatchd"

// grpcCodes is the one mapping from domain codes to gRPC codes.
var grpcCodes = map[job.Code]codes.Code{
	job.CodeInvalid:            codes.InvalidArgument,
	job.CodePayloadTooLarge:    codes.InvalidArgument, // gRPC has no "too large" for a valid message; the gateway answers 413
	job.CodeUnauthenticated:    codes.Unauthenticated,
	job.CodeNotFound:           codes.NotFound,
	job.CodeAlreadyExists:      codes.AlreadyExists,
	job.CodeFailedPrecondition: codes.FailedPrecondition,
	job.CodePermissionDenied:   codes.PermissionDenied,
	job.CodeRateLimited:        codes.ResourceExhausted,
	job.CodeUnavailable:        codes.Unavailable,
	job.CodeInternal:           codes.Internal,
}

// GRPCCode returns the gRPC code of a domain code.
func GRPCCode(c job.Code) codes.Code {
	if gc, ok := grpcCodes[c]; ok {
		return gc
	}
	return codes.Internal
}

// Status converts err to a gRPC status error carrying an ErrorInfo whose
// reason is the domain code (upper case, as AIP-193 asks) and, for rate
// limits, a RetryInfo. Context errors become Canceled / DeadlineExceeded.
// Errors that are not *job.Error are reported as internal without their text.
func Status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the request was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the request ran out of time")
	}
	code := job.ErrorCode(err)
	st := status.New(GRPCCode(code), job.ErrorMessage(err))
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: strings.ToUpper(string(code)), Domain: Domain}}
	var e *job.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	if withDetails, derr := st.WithDetails(details...); derr == nil {
		st = withDetails
	}
	return st.Err()
}

// Info is what a transport shows of an error.
type Info struct {
	GRPCCode codes.Code
	// Code is the stable machine code: the domain code when the error came
	// from dispatchd, else the gRPC code in snake case (e.g. "invalid_argument").
	Code       job.Code
	Message    string
	RetryAfter time.Duration
}

// FromStatus reads a status error back.
func FromStatus(err error) Info {
	st := status.Convert(err)
	info := Info{GRPCCode: st.Code(), Message: st.Message(), Code: job.Code(snake(st.Code()))}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == Domain {
				info.Code = job.Code(strings.ToLower(d.GetReason()))
			}
		case *errdetails.RetryInfo:
			info.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	return info
}

// snake turns codes.InvalidArgument into "invalid_argument".
func snake(c codes.Code) string {
	name := c.String()
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
