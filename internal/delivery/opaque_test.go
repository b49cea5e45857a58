package delivery

import "testing"

func TestRecordForEnvelopes(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"JSON as is", []byte(`{"b": 1,  "a": "<&>"}`), `{"jobId":"job_1","attemptId":"att_1","attempt":2,"attemptNumber":2,"payload":{"b": 1,  "a": "<&>"}}`},
		{"empty is null", nil, `{"jobId":"job_1","attemptId":"att_1","attempt":2,"attemptNumber":2,"payload":null}`},
		{"text is base64", []byte("a=b&c=d"), `{"jobId":"job_1","attemptId":"att_1","attempt":2,"attemptNumber":2,"payloadEncoding":"base64","payload":"YT1iJmM9ZA=="}`},
		{"bytes are base64", []byte{0xff, 0x00, 0xfe}, `{"jobId":"job_1","attemptId":"att_1","attempt":2,"attemptNumber":2,"payloadEncoding":"base64","payload":"/wD+"}`},
		{"JSON-looking bytes that are not UTF-8", []byte("\"\xff\""), `{"jobId":"job_1","attemptId":"att_1","attempt":2,"attemptNumber":2,"payloadEncoding":"base64","payload":"Iv8i"}`},
	}
	for _, tt := range tests {
		got := string(appendEnvelope(nil, RecordFor("job_1", "att_1", 2, tt.payload)))
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
