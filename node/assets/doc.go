// Package assets is the owner's side of storage: it stores a file across
// the mesh (encrypt, erasure-code or replicate, place on distinct live
// hosts, resume an interrupted put), reads it back, and keeps it repaired,
// by orchestrating the storage package's pipeline over an injected
// storage.Transport. LocalFirst routes the node's own shards to its own
// store, so nothing goes over HTTP to itself.
//
// # Honest redundancy
//
// A put with k and n (or r) given needs n distinct live hosts; with fewer
// it is refused (nodeerr.ErrConflict, naming the hosts found) before any
// manifest is written, unless PutOptions.AllowSharedHosts lets a host take
// several shards of a stripe. Parameters the node chooses itself never
// exceed the live hosts. Every Asset carries Survives, the host losses it
// survives from where its live shards are (storage.SurvivableLosses), so
// what a put reports is what it got.
//
// # Put again
//
// The asset ID of a put that gives its content hash is derived from owner
// and hash, and, when the put chooses any parameter itself (mode rep, k/n,
// r or shard size), from those parameters too. A put that leaves them to
// the node keeps the content-only ID, so running it again resumes under
// the same ID whatever the live hosts are now, and finds whatever is
// stored of that content. A put with explicit parameters looks for the
// content stored with those parameters (under either kind of ID): a
// pending upload resumes, a stored one is returned as it is (Put sets
// AlreadyStored and reads nothing, so the API answers 200 before the body
// arrives), and none means a new asset beside any other of that content,
// so the same file may be kept under two codes. A lost upload, a pending
// one of other parameters, or an adaptive one that no longer fits the
// live hosts is replaced by a fresh upload under a new ID derived from
// the old one (hosts may still hold the old shards, sealed under another
// key, at the old addresses); the manifest records the announced hash at
// once, so the replacement is found by content. One put per content runs
// at a time.
//
// # Delete and claims
//
// Delete forgets a file and asks every host of its shards to drop them,
// Window at a time; the hosts that do not answer stay queued in SQLite and
// are asked again on every repair and claim pass. Run claims every shard of
// every manifest (pending uploads included) on its host at start and every
// ClaimInterval, in batches of storage.MaxClaimBatch; hosts collect shards
// nobody claims for their grace period (node.Config.ShardGrace), which the
// node refuses to set below two claim intervals.
package assets
