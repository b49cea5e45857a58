package apikey

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Scope is what a key may do; the type is the domain's, as it is stored.
type Scope = job.Scope

// The scopes, as the domain names them.
const (
	ScopeAdmin    = job.ScopeAdmin
	ScopeDispatch = job.ScopeDispatch
	ScopeRead     = job.ScopeRead
)

// Scopes lists the scopes, widest first.
var Scopes = []Scope{ScopeAdmin, ScopeDispatch, ScopeRead}

// ParseScope returns the scope named s; empty is ScopeAdmin, the default.
func ParseScope(s string) (Scope, error) {
	if s == "" {
		return ScopeAdmin, nil
	}
	if sc := Scope(s); slices.Contains(Scopes, sc) {
		return sc, nil
	}
	return "", fmt.Errorf("unknown scope %q: use admin, dispatch or read", s)
}

var (
	anyScope     = []Scope{ScopeAdmin, ScopeDispatch, ScopeRead}
	dispatchers  = []Scope{ScopeAdmin, ScopeDispatch}
	readers      = []Scope{ScopeAdmin, ScopeRead}
	adminsOnly   = []Scope{ScopeAdmin}
	jobService   = "/dispatchd.v1.JobService/"
	endpointSvc  = "/dispatchd.v1.EndpointService/"
	sourceSvc    = "/dispatchd.v1.SourceService/"
	keyService   = "/dispatchd.v1.KeyService/"
	eventSvc     = "/dispatchd.v1.EventService/"
	scheduleSvc  = "/dispatchd.v1.ScheduleService/"
	methodScopes = map[string][]Scope{
		jobService + "DispatchJob":           dispatchers,
		jobService + "BatchDispatchJobs":     dispatchers,
		jobService + "DispatchedDispatchJob": dispatchers,
		jobService + "GetJob":                anyScope,
		jobService + "DispatchedGetJob":      anyScope,
		jobService + "ListJobs":              anyScope,
		jobService + "ListAttempts":          anyScope,
		jobService + "CancelJob":             adminsOnly,
		jobService + "RetryJob":              adminsOnly,
		jobService + "ReplayDeadJobs":        adminsOnly,

		endpointSvc + "GetEndpoint":          readers,
		endpointSvc + "ListEndpoints":        readers,
		endpointSvc + "CreateEndpoint":       adminsOnly,
		endpointSvc + "UpdateEndpoint":       adminsOnly,
		endpointSvc + "DeleteEndpoint":       adminsOnly,
		endpointSvc + "PauseEndpoint":        adminsOnly,
		endpointSvc + "ResumeEndpoint":       adminsOnly,
		endpointSvc + "RotateEndpointSecret": adminsOnly,
		endpointSvc + "TestEndpoint":         adminsOnly, // it sends a request

		sourceSvc + "GetSource":          readers,
		sourceSvc + "ListSources":        readers,
		sourceSvc + "CreateSource":       adminsOnly,
		sourceSvc + "UpdateSource":       adminsOnly,
		sourceSvc + "DeleteSource":       adminsOnly,
		sourceSvc + "PauseSource":        adminsOnly,
		sourceSvc + "ResumeSource":       adminsOnly,
		sourceSvc + "RotateSourceSecret": adminsOnly,
		sourceSvc + "TestSource":         adminsOnly,

		keyService + "ListKeys":  readers,
		keyService + "CreateKey": adminsOnly,
		keyService + "RevokeKey": adminsOnly,
		keyService + "WhoAmI":    anyScope,
		// A session has its key's scope, whatever that is.
		keyService + "CreateSession": anyScope,
		keyService + "DeleteSession": anyScope,

		// Publishing an event makes jobs, as dispatching does.
		eventSvc + "PublishEvent":   dispatchers,
		eventSvc + "ListEvents":     readers,
		eventSvc + "GetEvent":       readers,
		eventSvc + "ListEventTypes": readers,

		scheduleSvc + "GetSchedule":     readers,
		scheduleSvc + "ListSchedules":   readers,
		scheduleSvc + "CreateSchedule":  adminsOnly,
		scheduleSvc + "UpdateSchedule":  adminsOnly,
		scheduleSvc + "DeleteSchedule":  adminsOnly,
		scheduleSvc + "PauseSchedule":   adminsOnly,
		scheduleSvc + "ResumeSchedule":  adminsOnly,
		scheduleSvc + "TriggerSchedule": adminsOnly,

		// The console's views: what came in, how it went, who did what.
		"/dispatchd.v1.RequestService/ListRequests":   readers,
		"/dispatchd.v1.RequestService/GetRequest":     readers,
		"/dispatchd.v1.StatsService/GetStats":         readers,
		"/dispatchd.v1.AuditService/ListAuditEntries": readers,
		jobService + "BulkJobs":                       adminsOnly,
		keyService + "GetKey":                         readers,
	}
)

// MethodScopes returns the scopes that may call a gRPC method (its full
// name, "/package.Service/Method"), and whether the method has an entry
// in the table. This table is the one place that says who may call what;
// a method without an entry is for admin keys only, so that a new RPC is
// never open by mistake (a test checks every RPC has an entry).
func MethodScopes(fullMethod string) ([]Scope, bool) {
	s, ok := methodScopes[fullMethod]
	if !ok {
		return adminsOnly, false
	}
	return s, true
}

// Authorize returns nil if a key of scope s may call fullMethod, else an
// error with code job.CodePermissionDenied that names the scope needed.
func Authorize(s Scope, fullMethod string) error {
	allowed, _ := MethodScopes(fullMethod)
	if slices.Contains(allowed, s) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	method := fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	return job.Errorf(job.CodePermissionDenied, "%s needs a key with scope %s; this key has scope %q",
		method, strings.Join(names, " or "), s)
}

// MaxNameLen is the longest key name, in characters.
const MaxNameLen = 100

// ValidateName checks a key's name: 1 to MaxNameLen characters of valid
// UTF-8 with no control characters, so that it prints on one line of a
// listing. The caller trims it first if it wants to.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("required: say whose or what the key is, e.g. ci")
	case !utf8.ValidString(name):
		return fmt.Errorf("not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Errorf("%d characters; at most %d", utf8.RuneCountInString(name), MaxNameLen)
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.In(r, unicode.Cf) }):
		return fmt.Errorf("must not contain control characters (tabs, newlines, escapes) or format characters (bidi marks)")
	}
	return nil
}
