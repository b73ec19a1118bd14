package assets

import "time"

// State is the health of a stored file.
type State string

// Asset states.
const (
	// StatePending: the upload has not reached quorum on every stripe yet
	// (running, interrupted, or waiting to be resumed).
	StatePending State = "pending"
	// StateStored: every stripe has at least the repair threshold of live shards.
	StateStored State = "stored"
	// StateDegraded: some stripe is below the repair threshold but every
	// stripe can still be decoded; repair will rebuild it.
	StateDegraded State = "degraded"
	// StateLost: some stripe has fewer than k live shards.
	StateLost State = "lost"
)

// Asset is a file this node stored across the mesh, as its manifest says.
type Asset struct {
	ID   string
	Name string
	// Size is the plaintext size in bytes.
	Size int64
	// FileHash is the hex BLAKE3-256 of the plaintext.
	FileHash string
	// Mode is "ec" or "rep".
	Mode string
	// K and N: any K of the N shards of a stripe restore it (rep: K = 1, N = r).
	K, N int
	// ShardSize is the size of every shard in bytes.
	ShardSize int
	// Stripes is the number of stripes.
	Stripes int
	// Adaptive says (K, N) were chosen from the live hosts, not by the user.
	Adaptive bool
	State    State
	// StripeShards holds, per stripe, how many shards are known live.
	StripeShards []int
	// Hosts is the number of distinct hosts holding shards.
	Hosts int
	// Survives is how many host losses the file survives in the worst
	// case, from where its live shards are (storage.SurvivableLosses); 0
	// while pending or lost.
	Survives int
	// AuditsPassed and AuditsFailed count the audits of the file's shards
	// (RunAudits); a failed one marked a shard dead and repaired the file.
	AuditsPassed, AuditsFailed int
	CreatedAt                  time.Time
	UpdatedAt                  time.Time
	// AlreadyStored is set by Put when the content was stored already
	// with the parameters asked for, so nothing was uploaded.
	AlreadyStored bool
}

// MinLive returns the fewest live shards of any stripe (0 with no stripes).
func (a Asset) MinLive() int {
	if len(a.StripeShards) == 0 {
		return 0
	}
	m := a.StripeShards[0]
	for _, s := range a.StripeShards[1:] {
		m = min(m, s)
	}
	return m
}

// PutOptions says how to store a file.
type PutOptions struct {
	// Name is the file's name, for people.
	Name string
	// Size is the plaintext size, or -1 when unknown (a browser upload
	// without Content-Length).
	Size int64
	// ContentHash is the hex BLAKE3-256 of the plaintext when the caller
	// knows it; it makes the asset ID deterministic, so an interrupted put
	// resumes, and it is checked at the end.
	ContentHash string
	// Mode is "ec" (default) or "rep".
	Mode string
	// K and N for ec; zero means adaptive from the live hosts (default 12/20).
	K, N int
	// R is the number of replicas for rep (default 5).
	R int
	// ShardSize is the shard size in bytes; zero means the default.
	ShardSize int
	// Recipients are further X25519 public keys (hex) the file key is
	// wrapped to, besides the owner's.
	Recipients []string
	// Policy is an optional signed asset policy (JSON) to check and keep.
	Policy []byte
	// AllowSharedHosts lets an upload place several shards of a stripe on
	// one host when fewer than n (or r) distinct hosts are live; without
	// it such a put is refused. The asset's Survives says what it got.
	AllowSharedHosts bool
}

// AssetChanged says an asset's state or shard counts changed.
type AssetChanged struct {
	Asset Asset
}

// Kind implements events.Event.
func (AssetChanged) Kind() string { return "asset" }

// UploadStalled is an alert: a put has read nothing from its client (or
// sent nothing, as reading waits for the shard transfers) for the stall
// age. It is raised once per stall; the put goes on waiting.
type UploadStalled struct {
	AssetID string
	Name    string
	// Read is the bytes read so far; Size the announced size (-1: unknown).
	Read, Size int64
	// Since is when the put last made progress.
	Since time.Time
}

// Kind implements events.Event.
func (UploadStalled) Kind() string { return "upload_stalled" }

// ShardCorrupt says a shard fetched from a host did not match its hash.
type ShardCorrupt struct {
	AssetID string
	Stripe  int
	Index   int
	Host    string
}

// Kind implements events.Event.
func (ShardCorrupt) Kind() string { return "corrupt" }

// RepairReport says what a repair found and did.
type RepairReport struct {
	Asset             Asset
	Rebuilt, Unplaced int
	MarkedDead        int
}

// AssetDeleted says the owner deleted a file.
type AssetDeleted struct {
	ID   string
	Name string
}

// Kind implements events.Event.
func (AssetDeleted) Kind() string { return "asset-deleted" }
