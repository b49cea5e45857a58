package ingest

import (
	"golang.org/x/net/http/httpguts"

	"github.com/dispatchd/dispatchd/internal/job"
)

// checkHeaders refuses the header names and values an HTTP/1.1 parser
// would refuse (NUL, CR, LF and other control bytes, names that are not
// tokens). They cannot arrive through the HTTP face, but a gRPC caller can
// put anything in the request's map; stored, such bytes fail the commit on
// PostgreSQL (a 503 that makes a provider retry forever) and would be
// replayed into logs and deliveries. Refused, they are a 400.
func checkHeaders(h map[string]string) error {
	for name, value := range h {
		if !httpguts.ValidHeaderFieldName(name) {
			return job.Errorf(job.CodeInvalid, "header name %q is not a valid HTTP header name", name)
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return job.Errorf(job.CodeInvalid, "the value of header %s holds bytes HTTP does not allow in a header (control characters such as NUL, CR, LF)", name)
		}
	}
	return nil
}

// LargestBodyBytes returns the largest body limit of the sources: the cap
// of a whole ingest request, before it is known which source it names.
func (r *Registry) LargestBodyBytes() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	largest := int64(0)
	for _, s := range r.byName {
		largest = max(largest, s.MaxBodyBytes)
	}
	return largest
}
