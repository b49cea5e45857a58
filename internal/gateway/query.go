package gateway

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// queryParser is grpc-gateway's query parser, friendlier to people typing
// URLs: an enum filter takes the short lower-case name of a value
// (state=completed) as well as the proto name (state=JOB_STATE_COMPLETED),
// and a wrong value is refused with the list of the valid ones.
type queryParser struct {
	runtime.DefaultQueryParser
}

// setQueryParser is set once per process. grpc-gateway keeps the query
// parser in a package variable that SetQueryParameterParser's option
// writes at every NewServeMux, so setting it per mux races with the muxes
// already serving (two services in one process, as the tests run them).
var setQueryParser sync.Once

// withQueryParser installs queryParser, the first time only.
func withQueryParser() runtime.ServeMuxOption {
	return func(m *runtime.ServeMux) {
		setQueryParser.Do(func() { runtime.SetQueryParameterParser(&queryParser{})(m) })
	}
}

// Parse implements runtime.QueryParameterParser.
func (p *queryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	fields := msg.ProtoReflect().Descriptor().Fields()
	var rewritten url.Values
	for key, vals := range values {
		fd := fields.ByJSONName(key)
		if fd == nil {
			fd = fields.ByTextName(key)
		}
		if fd == nil || fd.Kind() != protoreflect.EnumKind {
			continue
		}
		if rewritten == nil {
			rewritten = make(url.Values, len(values))
			for k, v := range values {
				rewritten[k] = v
			}
		}
		names := make([]string, len(vals))
		for i, v := range vals {
			name, err := enumValueName(fd.Enum(), v)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			names[i] = name
		}
		rewritten[key] = names
	}
	if rewritten != nil {
		values = rewritten
	}
	err := p.DefaultQueryParser.Parse(msg, values, filter)
	if err == nil {
		return nil
	}
	// Name the parameter and what it must be, not strconv's words: parse
	// each alone to find the one refused.
	keys := slices.Sorted(maps.Keys(values))
	for _, key := range keys {
		one := msg.ProtoReflect().New().Interface()
		if p.DefaultQueryParser.Parse(one, url.Values{key: values[key]}, filter) == nil {
			continue
		}
		fd := fields.ByJSONName(key)
		if fd == nil {
			fd = fields.ByTextName(key)
		}
		if fd == nil {
			return fmt.Errorf("%s: no such query parameter", key)
		}
		return fmt.Errorf("%s: %s", key, expected(fd))
	}
	return errors.New("the query parameters do not match the request")
}

// enumPrefix is the prefix every value name of a buf-linted enum carries
// ("JOB_STATE_" of JOB_STATE_UNSPECIFIED).
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	first := string(ed.Values().Get(0).Name())
	return strings.TrimSuffix(first, "UNSPECIFIED")
}

// enumValueName returns the proto name of v, given as the proto name, as
// the short name in any case, or as a number.
func enumValueName(ed protoreflect.EnumDescriptor, v string) (string, error) {
	values := ed.Values()
	if values.ByName(protoreflect.Name(v)) != nil {
		return v, nil
	}
	if n, err := strconv.ParseInt(v, 10, 32); err == nil && values.ByNumber(protoreflect.EnumNumber(n)) != nil {
		return v, nil
	}
	prefix := enumPrefix(ed)
	if full := prefix + strings.ToUpper(v); values.ByName(protoreflect.Name(full)) != nil && prefix != "" {
		return full, nil
	}
	var valid []string
	for i := range values.Len() {
		name := string(values.Get(i).Name())
		if strings.HasSuffix(name, "_UNSPECIFIED") {
			continue
		}
		valid = append(valid, strings.ToLower(strings.TrimPrefix(name, prefix)))
	}
	return "", fmt.Errorf("%q is not a valid value; use one of %s (or the same upper-case with the %s prefix)",
		v, strings.Join(valid, ", "), prefix)
}
