package delivery

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"
)

// EncodingBase64 is the envelope's "payloadEncoding" for a payload that is
// not JSON: "payload" is then a JSON string of the bytes in standard
// base64 (RFC 4648, with padding), so that they arrive byte for byte.
const EncodingBase64 = "base64"

// IsJSONPayload reports whether a stored payload goes out as JSON, as it
// is: one JSON value in valid UTF-8. Anything else (a webhook a source
// accepted as opaque bytes) goes out base64-encoded. The API shows
// payloads by the same rule.
func IsJSONPayload(p []byte) bool {
	return len(p) > 0 && utf8.Valid(p) && json.Valid(p)
}

// RecordFor returns the Record of one attempt of a job whose stored
// payload is payload: a JSON payload is embedded as it is; any other is
// base64-encoded with PayloadEncoding EncodingBase64. An empty payload is
// sent as null.
func RecordFor(jobID, attemptID string, attemptNumber int, payload []byte) Record {
	rec := Record{JobID: jobID, AttemptID: attemptID, AttemptNumber: attemptNumber, valid: true}
	switch {
	case len(payload) == 0:
	case IsJSONPayload(payload):
		rec.Payload = payload
	default:
		rec.Payload = appendString(nil, base64.StdEncoding.EncodeToString(payload))
		rec.PayloadEncoding = EncodingBase64
	}
	return rec
}
