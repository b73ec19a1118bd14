package assets

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/storage"
)

// Defaults for puts.
const (
	defaultK        = 12
	defaultN        = 20
	defaultReplicas = 5
	maxNameLen      = 255
	maxRecipients   = 16
)

var hexKeyPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// assetIDFor derives the asset ID of a file from its owner and content, so
// the same put run again resumes instead of starting over.
func assetIDFor(owner, contentHash string) string {
	h := blake3.New()
	h.Write([]byte("offgrid/asset/v1\x00" + owner + "\x00" + contentHash))
	return "a" + hex.EncodeToString(h.Sum(nil))[:32]
}

// freshAssetID derives the ID of a fresh upload of content that replaces
// the failed or lost upload superseded. Hosts may still hold shards of the
// old upload under the old ID, sealed under another key; a new ID keeps
// the fresh shards from colliding with them.
func freshAssetID(owner, contentHash, superseded string) string {
	return assetIDFor(owner, contentHash+"\x00"+superseded)
}

// Put stores the plaintext read from r across the mesh: encrypted on
// this node, erasure coded (or replicated) and placed on distinct live
// hosts. An interrupted put of the same content (same ContentHash and
// parameters) resumes; one that failed, was lost or asked for other
// parameters starts afresh (see plan).
func (s *Service) Put(ctx context.Context, r io.Reader, opts PutOptions) (Asset, error) {
	if err := opts.validate(); err != nil {
		return Asset{}, err
	}
	if opts.ContentHash != "" {
		release, err := s.claimUpload(opts.ContentHash)
		if err != nil {
			return Asset{}, err
		}
		defer release()
	}
	hosts, err := s.deps.Hosts.Candidates(ctx)
	if err != nil {
		return Asset{}, err
	}
	m, key, prefix, err := s.prepareManifest(ctx, opts, hosts)
	if err != nil {
		return Asset{}, err
	}
	if m.State != storage.StatePending {
		// Already stored: nothing to upload again, and r is not read.
		return s.alreadyStored(ctx, m)
	}
	read := &countingReader{r: r}
	stop := s.watchStall(ctx, m, read)
	res, err := s.putter.Put(ctx, storage.PutRequest{Manifest: m, Key: key, Prefix: prefix, Hosts: hosts, WantHash: opts.ContentHash}, read)
	stop()
	if err != nil {
		if errors.Is(err, storage.ErrQuorum) {
			s.publishAsset(ctx, m.AssetID)
			return Asset{}, fmt.Errorf("%w: %v", nodeerr.ErrUnavailable, err)
		}
		interrupted := errors.Is(err, storage.ErrInterrupted)
		bad := errors.Is(err, storage.ErrInvalid) || errors.Is(err, storage.ErrHashMismatch) || errors.Is(err, storage.ErrTooLarge)
		if interrupted && opts.ContentHash != "" {
			s.log.Info("Upload interrupted; run the put again to resume", "asset", m.AssetID, "err", err)
			return Asset{}, fmt.Errorf("%w: %v", nodeerr.ErrInvalid, err)
		}
		if bad || interrupted || opts.ContentHash == "" {
			// A bad upload must not be resumed, and one without a content
			// hash cannot be: forget it, and ask its hosts to drop its shards.
			if derr := s.catalog.Forget(context.WithoutCancel(ctx), m.AssetID, true); derr != nil {
				s.log.Warn("Could not forget a failed upload", "asset", m.AssetID, "err", derr)
			}
		}
		if bad || interrupted {
			return Asset{}, fmt.Errorf("%w: %v", nodeerr.ErrInvalid, err)
		}
		return Asset{}, fmt.Errorf("put %s: %w", m.AssetID, err)
	}
	m.Size, m.FileHash, m.Stripes = res.Size, res.FileHash, res.Stripes
	state := storage.Health(m, res.Live, s.cfg.Transfer.Threshold(m.K, m.N))
	if err := s.catalog.SetState(ctx, m.AssetID, state); err != nil {
		return Asset{}, err
	}
	a, err := s.publishAsset(ctx, m.AssetID)
	if err != nil {
		return Asset{}, err
	}
	s.log.Info("Asset stored", "asset", m.AssetID, "bytes", res.Size, "stripes", res.Stripes,
		"uploaded", res.Uploaded, "skipped", res.Skipped, "state", state, "hosts", a.Hosts, "survives", a.Survives)
	return a, nil
}

// claimUpload marks a put of the content hashed contentHash as running. A
// second put of the same content while the first runs is refused: both
// would resume, or one would replace, the same manifest.
func (s *Service) claimUpload(contentHash string) (release func(), err error) {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	if s.uploads[contentHash] {
		return nil, fmt.Errorf("%w: this file is being uploaded already; wait for that put to end", nodeerr.ErrConflict)
	}
	s.uploads[contentHash] = true
	return func() {
		s.uploadsMu.Lock()
		defer s.uploadsMu.Unlock()
		delete(s.uploads, contentHash)
	}, nil
}

func (o PutOptions) validate() error {
	if len(o.Name) > maxNameLen || strings.ContainsAny(o.Name, "\x00\r\n") {
		return nodeerr.Invalidf("name must be at most %d characters without line breaks", maxNameLen)
	}
	if o.ContentHash != "" && !hexKeyPattern.MatchString(o.ContentHash) {
		return nodeerr.Invalidf("content hash must be 64 lower-case hex digits")
	}
	switch o.Mode {
	case "", "ec":
		if o.R != 0 {
			return nodeerr.Invalidf("r is for mode rep")
		}
		if (o.K == 0) != (o.N == 0) {
			return nodeerr.Invalidf("give both k and n, or neither to choose them from the live hosts")
		}
		if o.K != 0 && (o.K < 1 || o.N < o.K || o.N > storage.MaxShards) {
			return nodeerr.Invalidf("need 1 <= k <= n <= %d, got k=%d n=%d", storage.MaxShards, o.K, o.N)
		}
	case "rep":
		if o.K != 0 || o.N != 0 {
			return nodeerr.Invalidf("k and n are for mode ec; use r for rep")
		}
		if o.R < 0 || o.R > storage.MaxShards {
			return nodeerr.Invalidf("r must be between 1 and %d", storage.MaxShards)
		}
	default:
		return nodeerr.Invalidf("mode must be ec or rep, not %q", o.Mode)
	}
	if o.ShardSize != 0 && (o.ShardSize < 4096 || o.ShardSize > 16<<20) {
		return nodeerr.Invalidf("shard size must be between 4096 and 16777216 bytes")
	}
	if len(o.Recipients) > maxRecipients {
		return nodeerr.Invalidf("at most %d recipients", maxRecipients)
	}
	for _, r := range o.Recipients {
		if !hexKeyPattern.MatchString(r) {
			return nodeerr.Invalidf("recipient %q is not a hex X25519 public key", r)
		}
	}
	if o.Size < -1 {
		return nodeerr.Invalidf("size must not be negative")
	}
	return nil
}

// prepareManifest decides what a put does and returns the manifest to
// upload with its asset key, or the stored manifest when there is nothing
// to upload. With a content hash, this node's manifest of the same content
// and parameters (current) decides:
//
//   - stored or degraded: nothing to upload, the put is a no-op;
//   - pending with the same parameters (or none given): the upload
//     resumes and acknowledged shards are not sent again, unless its
//     parameters were chosen from the live hosts and no longer fit them;
//   - lost, pending with other parameters, or an adaptive choice that no
//     longer fits: a fresh upload with the given parameters, under a new
//     asset ID (freshAssetID), replaces it;
//   - none: a new asset, replacing a pending upload of the content with
//     other parameters if there is one. Content stored already with other parameters
//     stays as it is: the put with explicit parameters makes a second
//     asset of it (its ID covers the parameters, idKey), so both can be
//     got, and either can be deleted without the other.
//
// An upload with parameters the user gave needs n distinct live hosts (r
// for replication) unless opts.AllowSharedHosts: several shards of a
// stripe on one host would survive fewer losses than k and n promise.
func (s *Service) prepareManifest(ctx context.Context, opts PutOptions, hosts []storage.Candidate) (storage.Manifest, storage.AssetKey, storage.NoncePrefix, error) {
	var (
		key    storage.AssetKey
		prefix storage.NoncePrefix
	)
	p, err := s.plan(ctx, opts, hosts)
	if err != nil {
		return storage.Manifest{}, key, prefix, err
	}
	if p.existing {
		if isStored(p.m) {
			return p.m, key, prefix, nil
		}
		key, prefix, err = s.unwrapOwnKey(p.m)
		return p.m, key, prefix, err
	}
	m := p.m
	switch usable := len(storage.Usable(hosts)); {
	case usable == 1 && m.Adaptive:
		s.log.Warn("Only one live host: the file is stored without redundancy", "asset", m.AssetID)
	case usable < m.N:
		s.log.Warn("Fewer live hosts than shards per stripe: some hosts get several", "asset", m.AssetID, "n", m.N, "hosts", usable)
	}
	key, prefix, err = storage.NewAssetKey(rand.Reader)
	if err != nil {
		return storage.Manifest{}, key, prefix, err
	}
	for _, pub := range append([]string{s.boxKey}, opts.Recipients...) {
		raw, _ := hex.DecodeString(pub)
		w, err := storage.WrapKey(rand.Reader, key, prefix, raw, m.AssetID)
		if err != nil {
			return storage.Manifest{}, key, prefix, nodeerr.Invalidf("wrap key to %s: %v", pub, err)
		}
		m.Keys = append(m.Keys, w)
	}
	if err := s.catalog.Create(ctx, m); err != nil {
		return storage.Manifest{}, key, prefix, nodeerr.FromStorage(err)
	}
	if p.superseded != "" {
		// The failed upload's manifest goes, so the file is listed once,
		// and its hosts are asked to drop its shards.
		if err := s.catalog.Forget(ctx, p.superseded, true); err != nil {
			return storage.Manifest{}, key, prefix, err
		}
		s.log.Info("A fresh upload replaces a failed or lost one", "asset", m.AssetID, "replaces", p.superseded)
	}
	return m, key, prefix, nil
}

// putPlan is what a put will do.
type putPlan struct {
	// m is the manifest: the catalog's when existing (stored: nothing to
	// upload; pending: the upload resumes), else a new one without keys.
	m        storage.Manifest
	existing bool
	// superseded is the asset a new manifest replaces, if any.
	superseded string
}

// plan decides what a put with opts does, as prepareManifest describes,
// changing nothing, or refuses it: Put creates what it plans, and Stored
// answers a dashboard's question with it before the file is sent.
func (s *Service) plan(ctx context.Context, opts PutOptions, hosts []storage.Candidate) (putPlan, error) {
	owner := string(s.deps.Keys.ID())
	usable := storage.Usable(hosts)
	id, superseded := "", ""
	if opts.ContentHash != "" {
		id = assetIDFor(owner, opts.idKey())
		cur, err := s.current(ctx, owner, opts)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			// An interrupted upload of this content with other parameters
			// is not resumed by this one: it goes.
			if p, perr := s.catalog.ByContent(ctx, owner, opts.ContentHash); perr == nil && p.State == storage.StatePending {
				superseded = p.AssetID
			}
		case err != nil:
			return putPlan{}, err
		case isStored(cur):
			return putPlan{m: cur, existing: true}, nil
		case cur.State == storage.StatePending && !opts.differsFrom(cur) && !(cur.Adaptive && len(usable) < cur.N && !opts.AllowSharedHosts):
			if len(usable) == 0 {
				return putPlan{}, errNoHosts
			}
			if len(usable) < cur.N && !opts.AllowSharedHosts {
				return putPlan{}, tooFewHosts(cur, usable)
			}
			return putPlan{m: cur, existing: true}, nil
		default:
			superseded = cur.AssetID
			id = freshAssetID(owner, opts.ContentHash, cur.AssetID)
		}
	} else {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return putPlan{}, err
		}
		id = "a" + hex.EncodeToString(b[:])
	}
	if len(usable) == 0 {
		return putPlan{}, errNoHosts
	}
	policy, err := s.checkPolicy(opts, id)
	if err != nil {
		return putPlan{}, err
	}
	m := storage.Manifest{AssetID: id, Owner: owner, Name: opts.Name, Size: opts.Size, FileHash: opts.ContentHash,
		Mode: "ec", State: storage.StatePending, Policy: policy}
	if opts.Mode == "rep" {
		m.Mode, m.K, m.N = "rep", 1, opts.R
		if m.N == 0 {
			m.N, m.Adaptive = min(defaultReplicas, len(usable)), true
		}
	} else {
		m.K, m.N = opts.K, opts.N
		if m.K == 0 {
			m.Adaptive = true
			m.K, m.N, err = storage.ChooseParams(len(usable), defaultK, defaultN)
			if err != nil && !errors.Is(err, storage.ErrNoRedundancy) {
				return putPlan{}, fmt.Errorf("%w: %v", nodeerr.ErrUnavailable, err)
			}
		}
	}
	if len(usable) < m.N && !opts.AllowSharedHosts {
		return putPlan{}, tooFewHosts(m, usable)
	}
	m.ShardSize = opts.ShardSize
	if m.ShardSize == 0 {
		m.ShardSize = storage.ShardSizeFor(opts.Size, m.K)
	}
	if m.ShardSize > int(s.deps.MaxShardBytes) {
		return putPlan{}, nodeerr.Invalidf("shard size %d exceeds this node's limit of %d bytes", m.ShardSize, s.deps.MaxShardBytes)
	}
	return putPlan{m: m, superseded: superseded}, nil
}

// errNoHosts refuses an upload when no host is live and active.
var errNoHosts = fmt.Errorf("%w: no live, active hosts to store on", nodeerr.ErrUnavailable)

// Stored returns the file a put with opts (which must give the content
// hash) would answer "already stored" with, reading nothing and changing
// nothing; nodeerr.ErrNotFound when the put would upload; the put's own
// refusal (too few live hosts for n, a bad policy, a shard size over the
// limit) when it would refuse. The dashboard asks before it sends a file:
// a put answered before its body arrives closes the connection under a
// browser still sending it, which the browser reports as a failed upload.
func (s *Service) Stored(ctx context.Context, opts PutOptions) (Asset, error) {
	if err := opts.validate(); err != nil {
		return Asset{}, err
	}
	if opts.ContentHash == "" {
		return Asset{}, nodeerr.Invalidf("give the content hash to look for")
	}
	hosts, err := s.deps.Hosts.Candidates(ctx)
	if err != nil {
		return Asset{}, err
	}
	p, err := s.plan(ctx, opts, hosts)
	if err != nil {
		return Asset{}, nodeerr.FromStorage(err)
	}
	if !p.existing || !isStored(p.m) {
		return Asset{}, fmt.Errorf("%w: content %s is not stored yet", nodeerr.ErrNotFound, opts.ContentHash)
	}
	return s.alreadyStored(ctx, p.m)
}

// isStored reports whether a put of m's content with its parameters has
// nothing to upload.
func isStored(m storage.Manifest) bool {
	return m.State == storage.StateStored || m.State == storage.StateDegraded
}

// alreadyStored is the answer to a put of stored content.
func (s *Service) alreadyStored(ctx context.Context, m storage.Manifest) (Asset, error) {
	a, err := s.Get(ctx, m.AssetID)
	a.AlreadyStored = err == nil
	return a, err
}

// current returns this node's manifest of the content opts.ContentHash
// for a put with opts. A put that leaves the parameters to the node takes
// the one under the content's own asset ID, or the newest of that content
// whatever its parameters. A put with explicit parameters takes the newest
// with those parameters.
func (s *Service) current(ctx context.Context, owner string, opts PutOptions) (storage.Manifest, error) {
	if !opts.explicit() {
		m, err := s.catalog.Get(ctx, assetIDFor(owner, opts.ContentHash))
		if errors.Is(err, storage.ErrNotFound) {
			return s.catalog.ByContent(ctx, owner, opts.ContentHash)
		}
		return m, err
	}
	m, err := s.catalog.Get(ctx, assetIDFor(owner, opts.idKey()))
	if errors.Is(err, storage.ErrNotFound) {
		mode, n := "ec", opts.N
		if opts.Mode == "rep" {
			mode, n = "rep", opts.R
		}
		return s.catalog.ByParams(ctx, owner, opts.ContentHash, mode, opts.K, n, opts.ShardSize)
	}
	return m, err
}

// explicit reports whether the put chose any storage parameter itself.
func (o PutOptions) explicit() bool {
	return o.Mode == "rep" || o.K != 0 || o.R != 0 || o.ShardSize != 0
}

// idKey is what a put's asset ID is derived from: the content hash alone
// when the node chooses the parameters, so that an interrupted adaptive
// put resumes under the same ID whatever the live hosts are now, and the
// hash with the parameters when the put chose them, so that the same
// content stored with other parameters is another asset.
func (o PutOptions) idKey() string {
	if !o.explicit() {
		return o.ContentHash
	}
	mode := o.Mode
	if mode == "" {
		mode = "ec"
	}
	return fmt.Sprintf("%s\x00mode=%s k=%d n=%d r=%d shard=%d", o.ContentHash, mode, o.K, o.N, o.R, o.ShardSize)
}

// differsFrom reports whether the put asks for other parameters than m
// has; parameters left to the node (zero) differ from nothing.
func (o PutOptions) differsFrom(m storage.Manifest) bool {
	mode := o.Mode
	if mode == "" {
		mode = "ec"
	}
	switch {
	case mode != m.Mode:
		return true
	case mode == "ec" && o.K != 0 && (o.K != m.K || o.N != m.N):
		return true
	case mode == "rep" && o.R != 0 && o.R != m.N:
		return true
	}
	return o.ShardSize != 0 && o.ShardSize != m.ShardSize
}

// paramsText names a manifest's parameters for people: "ec k=12 n=20" or
// "rep r=5".
func paramsText(m storage.Manifest) string {
	if m.Mode == "rep" {
		return fmt.Sprintf("rep r=%d", m.N)
	}
	return fmt.Sprintf("ec k=%d n=%d", m.K, m.N)
}

// maxNamedHosts bounds how many hosts an error message names.
const maxNamedHosts = 20

// tooFewHosts is the refusal of an upload whose n shards per stripe cannot
// go to n distinct live hosts. It is a conflict with the mesh as it is
// (409), not a malformed request (400) and not a passing overload (503,
// which clients retry after a few seconds): the same request succeeds only
// once more hosts are up, or with fewer shards, or with shared hosts
// allowed. It names the live hosts the node found.
func tooFewHosts(m storage.Manifest, usable []storage.Candidate) error {
	named := make([]string, 0, min(len(usable), maxNamedHosts))
	for _, h := range usable[:min(len(usable), maxNamedHosts)] {
		switch {
		case h.Name != "" && h.Endpoint != "":
			named = append(named, h.Name+" ("+h.Endpoint+")")
		case h.Endpoint != "":
			named = append(named, h.Endpoint)
		default:
			named = append(named, h.ID)
		}
	}
	list := strings.Join(named, ", ")
	if more := len(usable) - len(named); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return fmt.Errorf("%w: %s needs %d distinct live hosts and this node found %d: %s; "+
		"wait for more hosts, ask for fewer shards, or allow shared hosts (several shards on one host, so the file survives fewer host losses)",
		nodeerr.ErrConflict, paramsText(m), m.N, len(usable), list)
}

// checkPolicy verifies an attached policy: its signature, that it names this
// asset (by asset ID or by content, "b3:HASH"), and that its distribution
// agrees with the put's options.
func (s *Service) checkPolicy(opts PutOptions, assetID string) ([]byte, error) {
	if len(opts.Policy) == 0 {
		return nil, nil
	}
	p, err := storage.DecodePolicy(opts.Policy)
	if err != nil {
		return nil, nodeerr.Invalidf("policy: %v", err)
	}
	if err := p.Verify(); err != nil {
		return nil, nodeerr.Invalidf("policy does not verify: %v", err)
	}
	if p.AssetID != assetID && (opts.ContentHash == "" || p.AssetID != "b3:"+opts.ContentHash) {
		return nil, nodeerr.Invalidf("policy is for asset %q, not this file (%s or b3:<content hash>)", p.AssetID, assetID)
	}
	d := p.Distribution
	switch {
	case d.Mode == "replication" && opts.Mode != "rep":
		return nil, nodeerr.Invalidf("policy asks for replication; put with --mode rep")
	case d.Mode == "replication" && opts.R != 0 && opts.R != d.R:
		return nil, nodeerr.Invalidf("policy asks for r=%d, the put says r=%d", d.R, opts.R)
	case d.Mode == "ec" && opts.Mode == "rep":
		return nil, nodeerr.Invalidf("policy asks for erasure coding; put with --mode ec")
	case d.Mode == "ec" && opts.K != 0 && (opts.K != d.K || opts.N != d.N):
		return nil, nodeerr.Invalidf("policy asks for k=%d n=%d, the put says k=%d n=%d", d.K, d.N, opts.K, opts.N)
	}
	return opts.Policy, nil
}

func (s *Service) unwrapOwnKey(m storage.Manifest) (storage.AssetKey, storage.NoncePrefix, error) {
	for _, w := range m.Keys {
		if w.Recipient == s.boxKey {
			return storage.UnwrapKey(s.deps.Keys.BoxPrivate(), w, m.AssetID)
		}
	}
	return storage.AssetKey{}, storage.NoncePrefix{}, fmt.Errorf("%w: asset %s has no key for this node", nodeerr.ErrConflict, m.AssetID)
}

// List returns the files this node stored, newest first.
func (s *Service) List(ctx context.Context) ([]Asset, error) {
	return s.listed(ctx, "")
}

// WithContent returns the stored files whose content hashes to fileHash
// (lower-case hex BLAKE3-256), newest first. Unlike List it reads the
// shard records of those files alone.
func (s *Service) WithContent(ctx context.Context, fileHash string) ([]Asset, error) {
	return s.listed(ctx, fileHash)
}

func (s *Service) listed(ctx context.Context, fileHash string) ([]Asset, error) {
	down := s.downHosts(ctx)
	var out []Asset
	err := s.catalog.EachListed(ctx, fileHash, func(l storage.Listed) error {
		out = append(out, s.summary(l, down))
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Newest first, as the catalog lists manifests.
	slices.SortFunc(out, func(a, b Asset) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Get returns one stored file.
func (s *Service) Get(ctx context.Context, id string) (Asset, error) {
	m, err := s.catalog.Get(ctx, id)
	if err != nil {
		return Asset{}, nodeerr.FromStorage(err)
	}
	return s.assetOf(ctx, m, s.downHosts(ctx))
}

// assetOf summarises a stored file from its manifest and records, as
// summary does.
func (s *Service) assetOf(ctx context.Context, m storage.Manifest, down func(hostID string) bool) (Asset, error) {
	recs, err := s.catalog.Shards(ctx, m.AssetID)
	if err != nil {
		return Asset{}, err
	}
	passed, failed, err := s.catalog.AssetAudits(ctx, m.AssetID)
	if err != nil {
		return Asset{}, err
	}
	return s.summary(storage.Listed{Manifest: m, Shards: recs, AuditsPassed: passed, AuditsFailed: failed}, down), nil
}

// summary summarises a stored file. Its health (state, shard counts,
// hosts, losses survived) counts the shards that can be read now: a shard
// whose host the peer table marks down (down, may be nil) stays live in
// the records through the repair grace, but it is not counted, so the file
// shows as degraded, and survives fewer losses, until the host is back.
func (s *Service) summary(l storage.Listed, down func(hostID string) bool) Asset {
	m, recs := l.Manifest, l.Shards
	hosts := map[string]bool{}
	for i, r := range recs {
		if r.Live && down != nil && down(r.HostID) {
			recs[i].Live = false
		}
		if recs[i].Live {
			hosts[r.HostID] = true
		}
	}
	counts := storage.LiveCounts(m, recs)
	state := m.State
	if state != storage.StatePending {
		// From the same counts, so the two agree between repair passes
		// (which record the state as they find it).
		state = storage.Health(m, counts, s.cfg.Transfer.Threshold(m.K, m.N))
	}
	return Asset{
		AuditsPassed: l.AuditsPassed, AuditsFailed: l.AuditsFailed,
		ID: m.AssetID, Name: m.Name, Size: m.Size, FileHash: m.FileHash, Mode: m.Mode, K: m.K, N: m.N,
		ShardSize: m.ShardSize, Stripes: m.Stripes, Adaptive: m.Adaptive, State: State(state),
		StripeShards: counts, Hosts: len(hosts), Survives: storage.SurvivableLosses(m, recs),
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
	}
}

func (s *Service) publishAsset(ctx context.Context, id string) (Asset, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return Asset{}, err
	}
	s.deps.Events.Publish(AssetChanged{Asset: a})
	return a, nil
}

// Open returns the plaintext of a stored file as a stream. The first
// stripe is fetched before it returns, so an unavailable file is reported
// here (nodeerr.ErrUnavailable, saying which stripe lacks how many shards); later
// stripes are fetched as the stream is read.
func (s *Service) Open(ctx context.Context, id string) (io.ReadCloser, Asset, error) {
	m, err := s.catalog.Get(ctx, id)
	if err != nil {
		return nil, Asset{}, nodeerr.FromStorage(err)
	}
	if m.Stripes == 0 {
		return nil, Asset{}, fmt.Errorf("%w: asset %s is still being uploaded", nodeerr.ErrConflict, id)
	}
	key, prefix, err := s.unwrapOwnKey(m)
	if err != nil {
		return nil, Asset{}, err
	}
	recs, err := s.catalog.Shards(ctx, id)
	if err != nil {
		return nil, Asset{}, err
	}
	down := s.downHosts(ctx)
	rd, err := s.fetcher.Open(ctx, m, recs, key, prefix, down)
	if err != nil {
		return nil, Asset{}, nodeerr.FromStorage(err)
	}
	a, err := s.assetOf(ctx, m, down)
	if err != nil {
		rd.Close()
		return nil, Asset{}, err
	}
	return rd, a, nil
}

// Repair checks every shard of an asset on its host and rebuilds the
// stripes below the repair threshold onto other live hosts.
func (s *Service) Repair(ctx context.Context, id string) (RepairReport, error) {
	m, err := s.catalog.Get(ctx, id)
	if err != nil {
		return RepairReport{}, nodeerr.FromStorage(err)
	}
	res, err := s.repairOne(ctx, m, nil, true)
	a, aerr := s.publishAsset(ctx, id)
	if aerr != nil {
		return RepairReport{}, aerr
	}
	rep := RepairReport{Asset: a, Rebuilt: res.Rebuilt, Unplaced: res.Unplaced, MarkedDead: res.MarkedDead}
	if err != nil {
		return rep, fmt.Errorf("%w: repair of %s incomplete: %v", nodeerr.ErrUnavailable, id, nodeerr.FromStorage(err))
	}
	return rep, nil
}

// repaired is what repairOne did: the repair's result, and whether the
// asset's state changed.
type repaired struct {
	storage.RepairResult
	StateChanged bool
}

// repairOne repairs one asset and records its new state; away (nil: none)
// names the hosts within their grace period (storage.Repairer.Repair).
func (s *Service) repairOne(ctx context.Context, m storage.Manifest, away func(hostID string) bool, verify bool) (repaired, error) {
	hosts, err := s.deps.Hosts.Candidates(ctx)
	if err != nil {
		return repaired{}, err
	}
	return s.repairOn(ctx, m, hosts, away, verify)
}

// repairOn is repairOne with the hosts up now already listed.
func (s *Service) repairOn(ctx context.Context, m storage.Manifest, hosts []storage.Candidate, away func(hostID string) bool,
	verify bool) (repaired, error) {
	if !s.owns(m) {
		return repaired{}, fmt.Errorf("%w: %s was shared with this node; only its owner repairs it", nodeerr.ErrConflict, m.AssetID)
	}
	if m.Stripes == 0 {
		return repaired{}, nil
	}
	r, rerr := s.repairer.Repair(ctx, m, hosts, away, verify)
	res := repaired{RepairResult: r}
	if res.Live != nil {
		state := storage.Health(m, res.Live, s.cfg.Transfer.Threshold(m.K, m.N))
		if m.State == storage.StatePending && state == storage.StateDegraded {
			state = storage.StatePending
		}
		if state != m.State {
			if err := s.catalog.SetState(ctx, m.AssetID, state); err != nil {
				return res, err
			}
			res.StateChanged = true
			s.log.Info("Asset state changed", "asset", m.AssetID, "from", m.State, "to", state)
		}
		if res.Rebuilt > 0 || res.Revived > 0 {
			s.log.Info("Asset repaired", "asset", m.AssetID, "rebuilt", res.Rebuilt, "unplaced", res.Unplaced, "revived", res.Revived)
		}
	}
	return res, rerr
}

// scanAssets returns every asset's manifest and, for each asset whose
// every stripe has all n shards live on hosts among hosts, its live shards
// per stripe. Such an asset needs no repair (Repairer.Repair would find
// nothing to mark dead, revive or rebuild), so a pass need not read its
// records one asset at a time: the records of all assets come in one read
// (Catalog.EachListed), where a pass of 300 files made 900 queries.
func (s *Service) scanAssets(ctx context.Context, hosts []storage.Candidate) ([]storage.Manifest, map[string][]int, error) {
	up := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		up[h.ID] = true
	}
	var ms []storage.Manifest
	whole := map[string][]int{}
	err := s.catalog.EachListed(ctx, "", func(l storage.Listed) error {
		ms = append(ms, l.Manifest)
		for _, r := range l.Shards {
			if !r.Live || !up[r.HostID] {
				return nil
			}
		}
		counts := storage.LiveCounts(l.Manifest, l.Shards)
		if l.Stripes == 0 || len(counts) != l.Stripes || slices.ContainsFunc(counts, func(c int) bool { return c != l.N }) {
			return nil
		}
		whole[l.AssetID] = counts
		return nil
	})
	return ms, whole, err
}

// repairAll checks every asset this node owns against the peer table (no
// network checks) and repairs what fell below the threshold. Hosts down for
// less than RepairGrace keep their shards; it returns when the first of
// them runs out of grace (zero: none is within it). shown holds each
// asset's readable shards per stripe as the last pass found them; an asset
// whose counts changed since (a host went or came back) is reported with
// AssetChanged, and shown is updated.
func (s *Service) repairAll(ctx context.Context, shown map[string][]int) (graceEnds time.Time) {
	lastUp, err := s.deps.Hosts.Members(ctx)
	if err != nil {
		s.log.Warn("Repair scan failed", "err", err)
		return time.Time{}
	}
	now := s.deps.Now()
	for _, at := range lastUp {
		if end := at.Add(s.cfg.RepairGrace); !at.IsZero() && end.After(now) && (graceEnds.IsZero() || end.Before(graceEnds)) {
			graceEnds = end
		}
	}
	// A member up when the list was taken but not among the candidates
	// the repair reads a moment later has just gone: it is away too.
	away := func(hostID string) bool {
		at, ok := lastUp[hostID]
		return ok && (at.IsZero() || now.Sub(at) < s.cfg.RepairGrace)
	}
	hosts, err := s.deps.Hosts.Candidates(ctx)
	if err != nil {
		s.log.Warn("Repair scan failed", "err", err)
		return graceEnds
	}
	ms, whole, err := s.scanAssets(ctx, hosts)
	if err != nil {
		s.log.Warn("Repair scan failed", "err", err)
		return graceEnds
	}
	found := make(map[string][]int, len(ms))
	defer func() {
		clear(shown)
		maps.Copy(shown, found)
	}()
	for _, m := range ms {
		if ctx.Err() != nil {
			return graceEnds
		}
		if !s.owns(m) {
			continue
		}
		var res repaired
		if counts, ok := whole[m.AssetID]; ok && m.State == storage.StateStored {
			res.Live = counts // what Repair would find, reading the same records again
		} else if res, err = s.repairOn(ctx, m, hosts, away, false); err != nil && ctx.Err() == nil {
			s.log.Warn("Repair incomplete", "asset", m.AssetID, "err", err)
		}
		prev, had := shown[m.AssetID]
		if res.Live != nil {
			found[m.AssetID] = res.Live
		}
		moved := had && res.Live != nil && !slices.Equal(prev, res.Live)
		if res.Rebuilt == 0 && res.MarkedDead == 0 && res.Revived == 0 && !res.StateChanged && !moved {
			continue // nothing changed that anyone would see
		}
		if _, err := s.publishAsset(ctx, m.AssetID); err != nil && ctx.Err() == nil {
			s.log.Warn("Could not report a repaired asset", "asset", m.AssetID, "err", err)
		}
	}
	return graceEnds
}
