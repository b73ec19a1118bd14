// Package assets is the owner's side of storage: it stores a file across
// the mesh (encrypt, erasure-code or replicate, place on distinct live
// hosts, resume an interrupted put), reads it back, and keeps it repaired,
// by orchestrating the storage package's pipeline over an injected
// storage.Transport. LocalFirst routes the node's own shards to its own
// store, so nothing goes over HTTP to itself.
package assets
