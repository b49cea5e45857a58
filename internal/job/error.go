package job

import (
	"errors"
	"fmt"
	"time"
)

// Code is a stable, machine-readable error code. Clients see it as the
// "code" of an HTTP error body and as the ErrorInfo reason of a gRPC status;
// rpcerr holds the one table that maps each code to a gRPC code.
type Code string

// Error codes.
const (
	CodeInvalid            Code = "invalid_argument"    // the request is malformed
	CodePayloadTooLarge    Code = "payload_too_large"   // the body is over the source's limit
	CodeUnauthenticated    Code = "unauthenticated"     // signature or secret missing, wrong or stale
	CodeNotFound           Code = "not_found"           // no such source, event or job
	CodeAlreadyExists      Code = "already_exists"      // a name or key already taken
	CodeFailedPrecondition Code = "failed_precondition" // not possible in the object's current state
	CodePermissionDenied   Code = "permission_denied"   // the caller may not do this
	CodeRateLimited        Code = "rate_limited"        // over the rate limit; see RetryAfter
	CodeUnavailable        Code = "unavailable"         // the store cannot commit now; retry
	CodeInternal           Code = "internal"            // a bug or an unexpected failure
)

// Error is an error a caller can act on: Code says what kind, Message says
// what to fix, in words meant for the person who reads the response.
type Error struct {
	Code    Code
	Message string
	// RetryAfter tells a rate-limited caller when to try again.
	RetryAfter time.Duration
	// Err is the underlying cause, kept for logs; it is not shown to callers.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message for any other error (whose text may hold internals).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
