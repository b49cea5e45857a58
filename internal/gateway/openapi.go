package gateway

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// OpenAPIDocuments returns the OpenAPI 3 document (gen/openapi) as served
// at /openapi.json and /openapi.yaml: info.version is the build's version,
// so a client can tell which server it was generated against; nothing else
// changes.
func OpenAPIDocuments(spec []byte, version string) (jsonDoc, yamlDoc []byte, err error) {
	var doc map[string]any
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, nil, fmt.Errorf("openapi: %w", err)
	}
	info, ok := doc["info"].(map[string]any)
	if !ok {
		return nil, nil, errors.New("openapi: the document has no info")
	}
	info["version"] = version
	if jsonDoc, err = json.MarshalIndent(doc, "", "  "); err != nil {
		return nil, nil, fmt.Errorf("openapi: %w", err)
	}
	if yamlDoc, err = yaml.Marshal(doc); err != nil {
		return nil, nil, fmt.Errorf("openapi: %w", err)
	}
	return jsonDoc, yamlDoc, nil
}
