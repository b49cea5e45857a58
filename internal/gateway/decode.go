package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// explainingDecoder decodes a request body as JSONPb does and, when that
// fails, says which field is wrong and what it should be, instead of the
// protobuf parser's "syntax error (line 1:13): unexpected token [".
type explainingDecoder struct {
	r    io.Reader
	opts protojson.UnmarshalOptions
	m    *runtime.JSONPb
}

// Decode implements runtime.Decoder.
func (d explainingDecoder) Decode(v any) error {
	b, err := io.ReadAll(d.r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return io.EOF // an empty body is an empty request, as for JSONPb
	}
	msg, ok := v.(proto.Message)
	if !ok {
		return d.m.Unmarshal(b, v)
	}
	if err := d.opts.Unmarshal(b, msg); err != nil {
		return explainBody(d.opts, b, msg.ProtoReflect().Descriptor())
	}
	return nil
}

// explainBody returns the error of a body the message md does not accept.
func explainBody(opts protojson.UnmarshalOptions, body []byte, md protoreflect.MessageDescriptor) error {
	var syntax *json.SyntaxError
	var top any
	if err := json.Unmarshal(body, &top); errors.As(err, &syntax) {
		return fmt.Errorf("the request body is not valid JSON (at byte %d)", syntax.Offset)
	} else if err != nil {
		return errors.New("the request body is not valid JSON")
	}
	if msg := explainValue(opts, "", body, md); msg != "" {
		return errors.New(msg)
	}
	return errors.New("the request body does not match the request's fields")
}

// explainValue says what is wrong with raw as the message md at path ("" at
// the top), or "" when it finds nothing.
func explainValue(opts protojson.UnmarshalOptions, path string, raw json.RawMessage, md protoreflect.MessageDescriptor) string {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil || wellKnown(md) {
		return ""
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		if path == "" {
			return "the request body must be a JSON object"
		}
		return path + ": must be a JSON object"
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		name := key
		if path != "" {
			name = path + "." + key
		}
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByTextName(key)
		}
		if fd == nil {
			return fmt.Sprintf("%s: no such field (the fields are %s)", name, jsonNames(md))
		}
		one, _ := json.Marshal(map[string]json.RawMessage{key: fields[key]})
		if opts.Unmarshal(one, mt.New().Interface()) == nil {
			continue
		}
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && !wellKnown(fd.Message()) {
			if why := explainValue(opts, name, fields[key], fd.Message()); why != "" {
				return why
			}
		}
		return name + ": " + expected(fd)
	}
	return ""
}

// wellKnown reports whether md is a google.protobuf type with a JSON form
// of its own (Struct, Value, Timestamp, Duration…).
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

// expected says what a field's JSON must be.
func expected(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "must be a JSON object"
	case fd.IsList():
		return "must be a JSON array"
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "must be a string"
	case protoreflect.BytesKind:
		return "must be a base64 string"
	case protoreflect.BoolKind:
		return "must be true or false"
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
		protoreflect.Sint32Kind, protoreflect.Sint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return "must be an integer"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "must be a number"
	case protoreflect.EnumKind:
		var names []string
		for i := range fd.Enum().Values().Len() {
			names = append(names, string(fd.Enum().Values().Get(i).Name()))
		}
		return "must be one of " + strings.Join(names, ", ")
	}
	switch fd.Message().FullName() {
	case "google.protobuf.Struct":
		return "must be a JSON object"
	case "google.protobuf.Value":
		return "must be a JSON value"
	case "google.protobuf.ListValue":
		return "must be a JSON array"
	case "google.protobuf.Timestamp":
		return `must be an RFC 3339 time, e.g. "2026-01-02T15:04:05Z"`
	case "google.protobuf.Duration":
		return `must be a duration in seconds with an "s", e.g. "3600s" for an hour`
	}
	return "must be a JSON object"
}

// jsonNames lists md's fields by their JSON names.
func jsonNames(md protoreflect.MessageDescriptor) string {
	var names []string
	for i := range md.Fields().Len() {
		names = append(names, md.Fields().Get(i).JSONName())
	}
	return strings.Join(names, ", ")
}
