package gateway

import (
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
)

// TestExplainingDecoder: a request body of the wrong shape is refused with
// the field that is wrong and what it must be, never the protobuf parser's
// words; a right one decodes as before.
func TestExplainingDecoder(t *testing.T) {
	m := &rawBodyMarshaler{JSONPb: &runtime.JSONPb{}}
	for _, tc := range []struct {
		body string
		msg  func() any
		want string
	}{
		{`{"payload": [1, 2]}`, func() any { return &dispatchdv1.DispatchedDispatchJobRequest{} }, "payload: must be a JSON object"},
		{`{"payload": "x"}`, func() any { return &dispatchdv1.DispatchedDispatchJobRequest{} }, "payload: must be a JSON object"},
		{`{"payload": {}, "scheduleFor": "tomorrow"}`, func() any { return &dispatchdv1.DispatchedDispatchJobRequest{} }, `scheduleFor: must be an RFC 3339 time`},
		{`{"payload": {}, "maxRetries": "three"}`, func() any { return &dispatchdv1.DispatchedDispatchJobRequest{} }, "maxRetries: must be an integer"},
		{`{"data": {}}`, func() any { return &dispatchdv1.DispatchedDispatchJobRequest{} }, `data: no such field (the fields are payload, scheduleFor, maxRetries)`},
		{`{"endpoint": "e", "payload": 1, "delay": "1h"}`, func() any { return &dispatchdv1.DispatchJobRequest{} }, `delay: must be a duration in seconds with an "s"`},
		{`{"endpoint": "e", "payload": 1, "retry": {"maxRetries": true}}`, func() any { return &dispatchdv1.DispatchJobRequest{} }, "retry.maxRetries: must be an integer"},
		{`{"jobs": {}}`, func() any { return &dispatchdv1.BatchDispatchJobsRequest{} }, "jobs: must be a JSON array"},
		{`[1]`, func() any { return &dispatchdv1.DispatchJobRequest{} }, "the request body must be a JSON object"},
		{`{"endpoint": `, func() any { return &dispatchdv1.DispatchJobRequest{} }, "the request body is not valid JSON"},
	} {
		err := m.NewDecoder(strings.NewReader(tc.body)).Decode(tc.msg())
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "proto:") {
			t.Errorf("%s: %v, want %q…", tc.body, err, tc.want)
		}
	}

	var ok dispatchdv1.DispatchedDispatchJobRequest
	if err := m.NewDecoder(strings.NewReader(`{"payload": {"a": 1}, "maxRetries": 2}`)).Decode(&ok); err != nil ||
		ok.GetMaxRetries() != 2 || ok.GetPayload().GetFields()["a"].GetNumberValue() != 1 {
		t.Errorf("a right body: %v, %v", err, &ok)
	}
	if err := m.NewDecoder(strings.NewReader("")).Decode(&ok); !errors.Is(err, io.EOF) {
		t.Errorf("an empty body: %v, want io.EOF (an empty request)", err)
	}
}

// TestQueryParserNamesTheParameter: a query parameter of the wrong type is
// refused naming it and what it must be; enum values take the short names.
func TestQueryParserNamesTheParameter(t *testing.T) {
	p := &queryParser{}
	for _, tc := range []struct {
		query, want string
	}{
		{"pageSize=abc", "pageSize: must be an integer"},
		{"createdAfter=yesterday", "createdAfter: must be an RFC 3339 time"},
		{"state=done", `state: "done" is not a valid value; use one of scheduled, available, running, retrying, completed, dead, cancelled`},
	} {
		values, _ := url.ParseQuery(tc.query)
		err := p.Parse(&dispatchdv1.ListJobsRequest{}, values, utilities.NewDoubleArray(nil))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q…", tc.query, err, tc.want)
		}
	}
	var req dispatchdv1.ListJobsRequest
	values, _ := url.ParseQuery("state=dead&pageSize=5")
	if err := p.Parse(&req, values, utilities.NewDoubleArray(nil)); err != nil || req.GetState() != dispatchdv1.JobState_JOB_STATE_DEAD || req.GetPageSize() != 5 {
		t.Errorf("state=dead&pageSize=5: %v, %v", err, &req)
	}
}
