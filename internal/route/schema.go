package route

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is a compiled JSON Schema of a declared event type.
type Schema struct {
	s *jsonschema.Schema
}

// CompileSchema compiles a JSON Schema document (draft 2020-12 unless it
// says otherwise with $schema). It refers to nothing outside itself.
func CompileSchema(doc []byte) (*Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("the schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	// Only the document itself: a $ref to a URL must not make the
	// server fetch it.
	c.UseLoader(noLoader{})
	const url = "mem:///schema.json"
	if err := c.AddResource(url, v); err != nil {
		return nil, err
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	return &Schema{s: s}, nil
}

// printer renders the validator's messages in English.
var printer = message.NewPrinter(language.English)

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: schemas may not refer to other documents", url)
}

// Validate checks a JSON body against the schema. Its error names the
// JSON pointer of the first failing value and why it fails.
func (s *Schema) Validate(body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	err = s.s.Validate(v)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	// The deepest first cause is the most specific complaint.
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	ptr := "/" + strings.Join(escape(ve.InstanceLocation), "/")
	if len(ve.InstanceLocation) == 0 {
		ptr = "(the root)"
	}
	return fmt.Errorf("%s: %s", ptr, ve.ErrorKind.LocalizedString(printer))
}

func escape(segs []string) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
	}
	return out
}
