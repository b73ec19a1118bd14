// Package storage owns the data path of stored files: encryption, erasure
// coding, placement on hosts, the upload manifest, the put and get
// pipelines, repair, signed asset policies, and each host's shard store.
//
// # Data path
//
// A put reads the plaintext once, as a stream. It is cut into stripes; each
// stripe carries one sealed segment of at most k*shard_size-16 plaintext
// bytes, so memory stays bounded (two stripes in flight) whatever the file
// size. The sealed segment is zero-padded to k*shard_size and Reed-Solomon
// coded (klauspost/reedsolomon, systematic) into n shards of shard_size
// bytes; replication stores n copies instead. The shards of a stripe go to
// distinct hosts (below), at most Window transfers at a time, each retried
// with exponential backoff and full jitter and, when its host keeps failing,
// sent to the next host in rendezvous order. A host that stopped answering
// is skipped for the rest of the put. Every acknowledged shard is recorded
// at once, so an interrupted put of the same content resumes without
// sending it again. A stripe counts as stored once k shards (ec) or every
// replica (replication) are acknowledged: the upload quorum.
//
// A get fetches, per stripe, the data shards first (no decoding needed),
// then parity shards for the ones that fail, decodes and decrypts. The
// stripe's AEAD tag proves every byte of it (a host has no key to forge
// one), so the shards are not hashed on the way; a stripe that does not
// open is fetched again with every shard checked against its BLAKE3 in the
// manifest, which finds, reports and avoids the host that served wrong
// bytes. The whole file's hash is left to the client, which gets it with
// the bytes (the CLI checks it before it keeps the file). While one stripe is read the next two are fetched, their
// requests sharing one window of Window (a token per running request), so
// the window stays full across a stripe's end rather than draining while a
// stripe's last shard arrives and it is decrypted; memory stays bounded
// (three stripe buffers and the shards of two stripes). The first stripe is
// fetched alone, so the hosts it finds dead are asked last by the rest.
// Each shard upload, like each read, has its own deadline (below), so a host
// that stops answering mid-upload costs one deadline before the shard goes
// to the next host.
//
// A get never waits on one host: hosts the caller's peer table marks down,
// and hosts that failed or stalled earlier in the same read, are asked
// last; every request has a deadline (ShardTimeoutBase + shard size /
// MinLinkRate); a request unanswered after the hedge delay (HedgeDelay, or
// four times the moving average of fetch times) or failed makes the fetcher
// ask the next spare shard at once, and once k shards arrived the rest are
// cancelled. Hedges go only to preferred hosts; avoided hosts and retries
// of failed hosts are asked only when no running request can still give a
// needed shard, so a dead host is never retried while a spare is left.
//
// # Segment envelope
//
// Each stripe carries one sealed segment: XChaCha20-Poly1305 under a random
// 32-byte per-asset key. Nonce = 16-byte random per-asset prefix || stripe
// index (8 bytes big-endian). Additional data = "offgrid/segment/v1" ||
// asset ID || stripe index (8 bytes BE) || last flag (1 byte, 0 or 1), so
// segments cannot be reordered, moved between assets, or the file cut short.
// Sealing is deterministic given key and prefix: a resumed put re-creates
// identical shards. Hosts only ever see ciphertext.
//
// # Key wrapping
//
// The asset key and prefix are wrapped to each X25519 recipient (the owner,
// and any others named at put): a fresh ephemeral X25519 key; kek = BLAKE3
// DeriveKey("offgrid/keywrap/v1", shared || ephemeral pub || recipient pub ||
// asset ID); XChaCha20-Poly1305 with a random 24-byte nonce seals key ||
// prefix (48 bytes, no additional data). JSON {recipient, ephemeral, nonce,
// sealed}: lower-case hex.
//
// # Placement
//
// Hosts are ranked per stripe by weighted rendezvous hashing: score(h) =
// -weight / ln(u), u from the top 53 bits of BLAKE3(key || 0x00 || host ID),
// key = "ASSET/STRIPE". The n best get the n shards, so no host holds two
// shards of a stripe while enough hosts exist, and losing a host moves only
// the shards it held. With fewer live hosts than the wanted n, ChooseParams
// picks (k, n): n = live hosts, parity p = max(1, round(n*(n0-k0)/n0)),
// k = n-p, keeping the share of tolerated losses and at most twice the
// wanted expansion; one host means no redundancy (ErrNoRedundancy).
//
// # Survivable losses
//
// What a file survives is computed from where its live shards are, never
// from the k and n it asked for (Tahoe-LAFS's servers of happiness):
// SurvivableLosses is the largest h such that losing any h hosts leaves
// every stripe at least k live shards. Per stripe the worst loss is the h
// hosts holding the most shards, so shards piled on few hosts count for
// little: 12-of-20 on 20 hosts survives 8 losses, on 3 hosts 1.
//
// # Manifest
//
// The owner keeps each asset's manifest in SQLite (storage_assets): name,
// size, BLAKE3 of the plaintext, mode, k, n, shard size, stripes, the wrapped
// keys, the attached policy and the state (pending, stored, degraded, lost),
// and, per shard, the host that acknowledged it and its hash
// (storage_asset_shards). A host addresses a shard as asset "ASSET.STRIPE",
// index 0..255.
//
// # Repair
//
// The owner checks its assets periodically and when a peer goes down: a
// shard is live while its host is up. A stripe below the repair threshold
// (default k+2 live shards) is restored from any k shards and its missing
// shards are rebuilt onto hosts holding no shard of the stripe yet (or, when
// every live host has one, the least loaded), each checked on its host after
// upload. A forced repair also asks every host for its shard's hash and
// rebuilds every stripe below n.
//
// # Audits
//
// An owner proves a host still holds a shard without reading it back: while
// it holds the shard's bytes (at put, at repair) it stores
// ChallengesPerShard challenges (nonce, range, expected) in
// storage_audit_challenges, in the transaction that records the
// acknowledged shard (a put records each stripe in one transaction,
// RecordShards), with nonce = 32 bytes from crypto/rand, range =
// ChallengeSpan bytes at an offset drawn from crypto/rand (the whole shard
// when it is shorter), expected = hex BLAKE3-256 keyed with the nonce
// (BLAKE3 keyed mode) over those bytes (AuditProof). An audit sends the
// nonce and range (AuditAsk); the host answers AuditProof(ask, its bytes).
// Without the bytes the answer cannot be computed, and as each nonce is
// used once (TakeChallenge deletes it) a stored answer is useless. The
// range is what keeps challenges cheap: making two costs two hashes of 64
// KiB per shard at put instead of two of the whole shard, and answering
// one reads 64 KiB. It trades completeness per audit for that: a host that
// dropped part of a shard passes an audit whose range misses the part. The
// full read when challenges run out covers every byte. A challenge stored
// before ranges existed has length 0 (the whole shard) and is sent without
// a range, which hosts of every version answer. When a
// shard's challenges run out the audit reads the shard itself, checks its
// hash and stores fresh challenges. Outcomes are counted per host and per
// asset (storage_audit_hosts, storage_audit_assets); AuditWeight halves a
// host's placement weight per failed audit, down to 1/1024, never zero (a
// replaced disk may make it good again).
//
// # Scrub
//
// A host's Stat checks the blob is on disk with the recorded size, so a
// lost blob is reported (quarantined, ErrCorrupt) without a read. Scrub
// re-reads stored shards in address order, a bounded batch per call, and
// quarantines each whose blob is missing or fails its hash, hashing every
// blob where Open relies on a check made within recheckAfter.
//
// # Shard store layout
//
// A host keeps shard bytes in files, content-addressed by their BLAKE3-256
// hash: DIR/blobs/HH/HASH, where HH are the first two hex digits. A file is
// written to a temporary name, fsync'd and renamed into place, so a crash
// never leaves a partial blob under a real name. The table storage_shards
// maps (asset_id, idx) to the hash, size and time stored. Every write checks
// the bytes against the expected hash (when the sender gives one) and a read
// checks the blob against its hash before serving it, unless a read checked
// it within recheckAfter (10 minutes: every reader verifies each shard it
// receives end to end, so a second hash of a blob checked minutes ago buys
// nothing but half a host's CPU during a get); a blob that fails is moved
// aside to DIR/quarantine and its row removed.
//
// Blobs and rows never drift apart. Receiving and hashing run concurrently,
// but installing (the address check, the rename into place and the row's
// INSERT) and removing a blob no row uses run under one lock: of two
// uploads of one address with different bytes, the second finds the
// first's row before it touches a blob and leaves nothing; a row that
// cannot be written (SQLITE_FULL) takes its new blob with it unless
// another row shares the bytes. What a killed process leaves, temp files
// in DIR/tmp and blobs no row points to, is removed when the store opens
// and counted (ShardStore.Removed). A full disk surfaces as ENOSPC, which
// the node answers 507; the temp file is removed with the failed upload.
//
// # Deletion and leases
//
// An owner that deletes a file forgets its manifest and, in the same
// transaction, queues one deletion per acknowledged shard
// (storage_deletions, Catalog.Forget); the queue is retried until each host
// answers, and bounded by MaxPendingDeletions and by the hosts' grace
// period (after it the host has collected the shard anyway).
//
// Deletion requests are an optimisation; leases are the guarantee. Each
// hosted shard records when the node that stored it last claimed it
// (storage_shards.claimed_at; storing counts as a claim), and
// ShardStore.Collect removes shards whose claim is older than a cutoff,
// except those stored by names the caller keeps (the admin). So a shard
// the owner no longer lists (deleted while its host was away, placed by a
// repair that raced a delete, left by an owner that is gone for good) goes
// after the grace period, and a shard the owner still lists stays as long
// as the owner claims it at least once per grace period. A claim renews
// only shards the claimer stored: no node can keep another's shards alive
// or release them. Blobs are shared by content: a blob is removed with the
// last shard that uses it, under the same lock that installs blobs, so a
// concurrent put of the same bytes never loses its blob.
//
// # Share manifests
//
// A Share is a read capability for one file: its asset ID, name, size,
// file hash, mode, k, n, shard size and stripes, the owner and recipient
// node IDs, the file key wrapped to the recipient's X25519 key (Key
// wrapping above), and every live shard's stripe, index, hash, host ID and
// endpoint. The owner signs, under ShareDomain ("offgrid/share/v1"), the
// canonical bytes
//
//	"OGSH" 0x01 str(asset_id) str(name) u64(size) str(file_hash) str(mode)
//	u32(k) u32(n) u32(shard_size) u32(stripes)
//	list(owner, recipient, key.recipient, key.ephemeral, key.nonce, key.sealed)
//	u32(count) { u32(stripe) u32(index) list(hash, host_id, endpoint) }...
//
// (str and list as for policies; integers big-endian). DecodeShare takes at
// most MaxShareJSON bytes of strict JSON (no unknown fields, no trailing
// data), checks every field's form and bound (at most MaxShareShards shards,
// http(s) endpoints) and verifies the signature with the owner's did:key.
// The recipient then checks that the manifest names it and that the key
// opens with its own X25519 key; nobody else can use it.
//
// # Offline EC directories
//
// `offgrid ec encode` writes DIR/shard_000.bin … shard_{n-1}.bin and
// DIR/meta.json {version:1, k, n, shard_size, size, stripes, file_hash,
// shard_hashes}. The file is cut into stripes of k*shard_size bytes (last
// zero-padded); shard file i is shard i of every stripe concatenated. Hashes
// are hex BLAKE3-256. meta.json is written last, atomically, so a directory
// with a meta.json is complete. No encryption: it is the seed's plain tool.
//
// # Asset policies
//
// What the publisher of an asset says about it (license, safety tags) and
// how it wants it stored (replication or erasure coding), signed by the
// publisher's node. A put with an attached policy is refused unless the
// policy verifies, names the asset (its ID or "b3:" + the content hash) and
// agrees with the put's distribution.
//
// # Policy canonical encoding (version 1)
//
// A policy is signed over its canonical bytes, never over JSON. The encoding
// covers every field except signature, in this fixed order. All integers
// are big-endian uint32. str(s) is a 4-byte length followed by the bytes of
// s (ASCII, no terminator); list(xs) is a 4-byte count followed by str(x)
// for each x in order.
//
//	offset  size  field
//	0       4     magic "OGPL" (0x4f 0x47 0x50 0x4c)
//	4       1     encoding version, 0x01
//	5       var   str(version)          "1"
//	        var   str(asset_id)
//	        var   str(license)
//	        var   str(mode)             "replication" or "ec"
//	        4     r                     copies; 0 in ec mode
//	        4     k                     data shards; 0 in replication mode
//	        4     n                     total shards; 0 in replication mode
//	        var   list(safety_tags)     in the policy's order
//	        var   str(node_id)          the did:key text
//	        32    verify_key            raw Ed25519 public key
//
// Every variable-length field carries its length, so two different policies
// never share an encoding. The signature is the lower-case hex Ed25519
// signature by verify_key of
//
//	"offgrid/policy/v1" || 0x00 || canonical bytes
//
// (see package identity). A policy verifies when its fields are valid,
// node_id is the did:key of verify_key, and the signature checks.
//
// # Policy JSON
//
//	{"version":"1","asset_id":"CID:abc123","license":"MIT",
//	 "distribution":{"mode":"replication","r":5},"safety_tags":[],
//	 "node_id":"did:key:z6Mk...","verify_key":"<64 hex>","signature":"<128 hex>"}
//
// r, k and n are left out when zero. Decoding refuses documents larger than
// MaxPolicyJSON, unknown fields, fields whose name differs only in case,
// repeated fields and trailing data.
package storage
