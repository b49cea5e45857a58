package apikey_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/dispatchd/dispatchd/gen/dispatchd/v1" // registers the services
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
)

// TestEveryMethodHasAScope: each RPC of every dispatchd service is either
// exempt from API keys or in the scope table, so a new RPC cannot be
// forgotten (it would be admin-only, silently).
func TestEveryMethodHasAScope(t *testing.T) {
	n := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("dispatchd.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				full := fmt.Sprintf("/%s/%s", svc.FullName(), svc.Methods().Get(j).Name())
				n++
				if apikey.Exempt(full) {
					continue
				}
				if _, ok := apikey.MethodScopes(full); !ok {
					t.Errorf("%s has no entry in the scope table (internal/apikey/scope.go)", full)
				}
			}
		}
		return true
	})
	if n < 30 {
		t.Fatalf("found %d methods; the services are not registered", n)
	}
}

func TestAuthorize(t *testing.T) {
	const (
		dispatch  = "/dispatchd.v1.JobService/DispatchedDispatchJob"
		getJob    = "/dispatchd.v1.JobService/GetJob"
		listEps   = "/dispatchd.v1.EndpointService/ListEndpoints"
		deleteEp  = "/dispatchd.v1.EndpointService/DeleteEndpoint"
		createKey = "/dispatchd.v1.KeyService/CreateKey"
		unlisted  = "/dispatchd.v1.FutureService/Anything"
	)
	tests := []struct {
		scope   apikey.Scope
		method  string
		wantErr string // "" for allowed
	}{
		{apikey.ScopeAdmin, dispatch, ""},
		{apikey.ScopeAdmin, deleteEp, ""},
		{apikey.ScopeAdmin, unlisted, ""},
		{apikey.ScopeDispatch, dispatch, ""},
		{apikey.ScopeDispatch, getJob, ""},
		{apikey.ScopeDispatch, listEps, "ListEndpoints needs a key with scope admin or read"},
		{apikey.ScopeDispatch, createKey, "CreateKey needs a key with scope admin;"},
		{apikey.ScopeRead, getJob, ""},
		{apikey.ScopeRead, listEps, ""},
		{apikey.ScopeRead, dispatch, `DispatchedDispatchJob needs a key with scope admin or dispatch; this key has scope "read"`},
		{apikey.ScopeRead, deleteEp, "needs a key with scope admin"},
		{apikey.ScopeRead, unlisted, "needs a key with scope admin"},
		{"", getJob, "needs a key with scope"},
	}
	for _, tt := range tests {
		t.Run(string(tt.scope)+" "+tt.method, func(t *testing.T) {
			err := apikey.Authorize(tt.scope, tt.method)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if job.ErrorCode(err) != job.CodePermissionDenied || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v (code %q), want permission_denied with %q", err, job.ErrorCode(err), tt.wantErr)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]apikey.Scope{"": apikey.ScopeAdmin, "admin": apikey.ScopeAdmin, "dispatch": apikey.ScopeDispatch, "read": apikey.ScopeRead} {
		if got, err := apikey.ParseScope(in); err != nil || got != want {
			t.Errorf("ParseScope(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Admin", "write", "admin,read"} {
		if _, err := apikey.ParseScope(in); err == nil || !strings.Contains(err.Error(), "admin, dispatch or read") {
			t.Errorf("ParseScope(%q) error %v, want one naming the scopes", in, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"ci", "billing service", "équipe-paie", strings.Repeat("x", apikey.MaxNameLen)} {
		if err := apikey.ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q): %v", ok, err)
		}
	}
	for name, want := range map[string]string{
		"":                                       "required",
		strings.Repeat("x", apikey.MaxNameLen+1): "at most 100",
		"ci\nrevoked":                            "control",
		"tab\there":                              "control",
		"\x1b[31mred":                            "control",
		"evil\u202etxt.exe":                      "control",
		"bad\xffutf8":                            "UTF-8",
	} {
		if err := apikey.ValidateName(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateName(%q) = %v, want an error with %q", name, err, want)
		}
	}
}

func TestCheckBootstrap(t *testing.T) {
	for range 1000 {
		key, _ := apikey.Generate()
		if err := apikey.CheckBootstrap(key); err != nil {
			t.Fatalf("generated key refused: %v", err)
		}
	}
	for name, key := range map[string]string{
		"made up":       "disp_k1_bootstrapchosenbyanoperator",
		"wrong prefix":  "sk_live_0123456789abcdef0123456789abcdef012345",
		"low entropy":   keyWithRandom("aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb"),
		"a counted run": keyWithRandom("0123456789012345678901234567890a"),
		"empty":         "",
	} {
		err := apikey.CheckBootstrap(key)
		if err == nil {
			t.Errorf("%s: %q accepted", name, key)
			continue
		}
		if !strings.Contains(err.Error(), "dispatchd keys generate") {
			t.Errorf("%s: error %q does not say how to make a key", name, err)
		}
		if key != "" && strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %q contains the key", name, err)
		}
	}
}
