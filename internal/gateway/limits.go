package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// Body caps of the API routes. A request that declares more is refused
// before a byte is read; one that sends more (chunked) is cut off when it
// passes the cap. The caps bound what an authenticated caller can make the
// process hold per request; an unauthenticated one is refused before its
// body is read at all.
const (
	// MaxJobsBodyBytes caps POST /v1/jobs and /v1/jobs:batch: one job's
	// payload may be as large as an endpoint's max_payload_bytes allows
	// (at most job.MaxMaxBodyBytes), and a batch carries several.
	MaxJobsBodyBytes = job.MaxMaxBodyBytes + 1<<20
	// MaxDispatchedBodyBytes caps the Dispatched-compatible
	// POST /api/jobs/dispatch, whose payload is at most 10 KB.
	MaxDispatchedBodyBytes = 64 << 10
	// MaxAPIBodyBytes caps every other API route (endpoints, sources,
	// keys, cancel, retry, replay): definitions, not data.
	MaxAPIBodyBytes = 1 << 20
)

// APIBodyLimit returns the body cap of an API request. The path is
// classified unescaped, as grpc-gateway routes it; a spelling that is not
// recognised gets the smallest cap, so no spelling earns a larger one.
func APIBodyLimit(r *http.Request) int64 {
	path := r.URL.Path
	if p, err := url.PathUnescape(r.URL.EscapedPath()); err == nil {
		path = p
	}
	switch {
	case path == "/v1/jobs" || path == "/v1/jobs:batch":
		return MaxJobsBodyBytes
	case strings.HasPrefix(path, "/api/jobs/dispatch"):
		return MaxDispatchedBodyBytes
	}
	return MaxAPIBodyBytes
}

// guardAPI checks an API request's key before its body is read, and caps
// the body. Requests without a body pass straight on: the gRPC
// interceptor checks their key as for any call.
func guardAPI(authenticate func(context.Context, string) error, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if authenticate == nil {
			writeError(w, http.StatusUnauthorized, job.CodeUnauthenticated, "this gateway serves no API")
			return
		}
		if err := authenticate(r.Context(), r.Header.Get("Authorization")); err != nil {
			code := job.ErrorCode(err)
			st := http.StatusUnauthorized
			msg := job.ErrorMessage(err)
			if code != job.CodeUnauthenticated {
				code, st, msg = job.CodeUnavailable, http.StatusServiceUnavailable, "the API key could not be checked; retry later"
			}
			writeError(w, st, code, msg)
			return
		}
		limit := APIBodyLimit(r)
		if r.ContentLength > limit {
			writeError(w, http.StatusRequestEntityTooLarge, job.CodePayloadTooLarge,
				fmt.Sprintf("the body is %d bytes; %s accepts at most %d", r.ContentLength, r.URL.Path, limit))
			return
		}
		r.Body = &cappedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), limit: limit}
		next.ServeHTTP(w, r)
	})
}

// cappedBody remembers that the body passed its cap, so that the error
// handler answers 413 rather than the decoder's 400.
type cappedBody struct {
	io.ReadCloser
	limit int64
	over  bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		b.over = true
	}
	return n, err
}

// overCap returns the 413 error of a request whose body passed its cap.
func overCap(r *http.Request) (error, bool) {
	if b, ok := r.Body.(*cappedBody); ok && b.over {
		return rpcerr.Status(job.Errorf(job.CodePayloadTooLarge, "the body is over the %d bytes %s accepts", b.limit, r.URL.Path)), true
	}
	return nil, false
}

// isDomain reports whether err is a status made by dispatchd's services
// (it carries their ErrorInfo), whose message is meant to be shown.
func isDomain(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == rpcerr.Domain {
			return true
		}
	}
	return false
}
