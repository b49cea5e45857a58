package delivery

import (
	"net/http"
	"strings"
)

// Masked replaces a secret header value in the attempt log.
const Masked = "***"

// shownHeaders are the headers dispatchd sets whose values hold no secret.
// Every other value is masked: Authorization, and the static headers of an
// endpoint's configuration, which often carry an API key.
var shownHeaders = map[string]bool{
	"Content-Type":      true,
	"Webhook-Id":        true,
	"Webhook-Timestamp": true,
	"Traceparent":       true,
	"User-Agent":        true,
}

// SentHeaders is what the attempt log keeps of a request's headers: the
// names all, the values of shownHeaders as sent, the signature as its
// schemes ("v1,*** v1a,***", enough to tell which were sent), and
// every other value masked. It is the only place headers are masked, so
// no secret reaches the store, the API or the console.
func SentHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for name, vs := range h {
		v := strings.Join(vs, ", ")
		switch {
		case shownHeaders[name]:
			out[name] = v
		case name == "Webhook-Signature":
			out[name] = maskSignature(v)
		case name == "Authorization":
			// The scheme tells Bearer from Basic; the credential stays out.
			if scheme, _, ok := strings.Cut(v, " "); ok {
				out[name] = scheme + " " + Masked
			} else {
				out[name] = Masked
			}
		default:
			out[name] = Masked
		}
	}
	return out
}

// maskSignature keeps the version of each space-separated "v1,<sig>" entry.
func maskSignature(v string) string {
	entries := strings.Fields(v)
	for i, e := range entries {
		version, _, _ := strings.Cut(e, ",")
		entries[i] = version + "," + Masked
	}
	return strings.Join(entries, " ")
}
