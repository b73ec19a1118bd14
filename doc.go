// Package offgrid holds the API contract, openapi.yaml, embedded so that
// every node serves the document it was built from, byte for byte.
package offgrid
