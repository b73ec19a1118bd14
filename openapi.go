package offgrid

import _ "embed"

// OpenAPI is openapi.yaml, the API contract the server is generated from.
//
//go:embed openapi.yaml
var OpenAPI []byte
