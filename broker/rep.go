package broker

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/canon"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// RepVersion is the format of a reputation record.
const RepVersion = "offgrid-rep/1"

// repDomain separates reputation signatures from every other signature a
// node key makes.
const repDomain = "offgrid-rep-v1"

// MaxRepRecords is the most records one merge accepts.
const MaxRepRecords = 4096

// ErrForged is a reputation record whose signature does not verify, whose
// key is not its observer's, or that claims to be this node's own.
var ErrForged = errors.New("forged reputation record")

// ErrBadRecord is a record that is malformed.
var ErrBadRecord = errors.New("malformed reputation record")

// RepRecord is one observer's count of one host's hits and misses, signed by
// the observer. Counts only grow, so the newest record of an observer is the
// one with the highest counts, and merging takes the max per field.
type RepRecord struct {
	Version   string `json:"version"`
	Observer  string `json:"observer"`
	Subject   string `json:"subject"`
	Hits      uint64 `json:"hits"`
	Misses    uint64 `json:"misses"`
	VerifyKey string `json:"verify_key"`
	Signature string `json:"signature"`
}

func (r RepRecord) message() []byte {
	b := canon.AppendStrings(nil, []string{r.Version, r.Observer, r.Subject})
	return fmt.Appendf(b, "%d:%d", r.Hits, r.Misses)
}

// SignRep signs a record as its observer.
func SignRep(k *identity.Keys, subject string, hits, misses uint64) RepRecord {
	r := RepRecord{Version: RepVersion, Observer: k.ID().String(), Subject: subject, Hits: hits, Misses: misses,
		VerifyKey: hex.EncodeToString(k.SignPublic())}
	r.Signature = hex.EncodeToString(k.Sign(repDomain, r.message()))
	return r
}

// Verify checks a record's form and signature.
func (r RepRecord) Verify() error {
	if r.Version != RepVersion {
		return fmt.Errorf("%w: version %q", ErrBadRecord, r.Version)
	}
	if !validNodeID(r.Observer) || !validNodeID(r.Subject) {
		return fmt.Errorf("%w: observer and subject must be node IDs", ErrBadRecord)
	}
	key, err := canon.LowerHex(r.VerifyKey, ed25519.PublicKeySize)
	if err != nil {
		return fmt.Errorf("%w: verify_key: %v", ErrForged, err)
	}
	if identity.NodeIDFromPublicKey(key).String() != r.Observer {
		return fmt.Errorf("%w: verify_key is not the observer's", ErrForged)
	}
	sig, err := canon.LowerHex(r.Signature, ed25519.SignatureSize)
	if err != nil || !identity.Verify(key, repDomain, r.message(), sig) {
		return fmt.Errorf("%w: bad signature by %s", ErrForged, r.Observer)
	}
	return nil
}

func validNodeID(s string) bool {
	if len(s) > 128 || !strings.HasPrefix(s, "did:key:") {
		return false
	}
	_, err := identity.NodeID(s).PublicKey()
	return err == nil
}

// DecodeRepRecords decodes and verifies a JSON array of records (strict:
// unknown fields refused, at most MaxRepRecords). One bad record refuses
// all: a merge is all or nothing.
func DecodeRepRecords(b []byte) ([]RepRecord, error) {
	var rs []RepRecord
	if err := canon.DecodeJSON(b, &rs); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if len(rs) > MaxRepRecords {
		return nil, fmt.Errorf("%w: %d records, at most %d", ErrBadRecord, len(rs), MaxRepRecords)
	}
	for i, r := range rs {
		if err := r.Verify(); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return rs, nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// RepStore keeps hits and misses per observer and host in SQLite: this
// node's own (observer = self) and others' merged from signed records.
type RepStore struct {
	db   *sql.DB
	keys *identity.Keys
	self string
}

// OpenRepStore migrates the broker's tables and returns the store.
func OpenRepStore(ctx context.Context, db *sql.DB, keys *identity.Keys) (*RepStore, error) {
	if err := sqlitedb.Migrate(ctx, db, "broker", migrations); err != nil {
		return nil, err
	}
	return &RepStore{db: db, keys: keys, self: keys.ID().String()}, nil
}

// Observe adds this node's own hits and misses of host.
func (s *RepStore) Observe(ctx context.Context, host string, hits, misses uint64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO broker_rep(observer, subject, hits, misses) VALUES(?, ?, ?, ?)
		ON CONFLICT(observer, subject) DO UPDATE SET hits = hits + excluded.hits, misses = misses + excluded.misses`,
		s.self, host, hits, misses)
	if err != nil {
		return fmt.Errorf("record reputation of %s: %w", host, err)
	}
	return nil
}

// Merge verifies records and keeps, per observer and host, the max of each
// field. Records claiming this node as observer are refused: its own
// observations are its own to count. Nothing is written unless all verify.
func (s *RepStore) Merge(ctx context.Context, rs []RepRecord) (int, error) {
	for i, r := range rs {
		if err := r.Verify(); err != nil {
			return 0, fmt.Errorf("record %d: %w", i, err)
		}
		if r.Observer == s.self {
			return 0, fmt.Errorf("record %d: %w: it names this node as observer", i, ErrForged)
		}
	}
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		for _, r := range rs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO broker_rep(observer, subject, hits, misses) VALUES(?, ?, ?, ?)
				ON CONFLICT(observer, subject) DO UPDATE SET hits = max(hits, excluded.hits), misses = max(misses, excluded.misses)`,
				r.Observer, r.Subject, r.Hits, r.Misses); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("merge reputation: %w", err)
	}
	return len(rs), nil
}

// Export returns this node's own observations as records it signed.
func (s *RepStore) Export(ctx context.Context) ([]RepRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT subject, hits, misses FROM broker_rep WHERE observer = ? ORDER BY subject LIMIT ?`, s.self, MaxRepRecords)
	if err != nil {
		return nil, fmt.Errorf("export reputation: %w", err)
	}
	defer rows.Close()
	out := []RepRecord{}
	for rows.Next() {
		var subject string
		var hits, misses uint64
		if err := rows.Scan(&subject, &hits, &misses); err != nil {
			return nil, err
		}
		out = append(out, SignRep(s.keys, subject, hits, misses))
	}
	return out, rows.Err()
}

// Reputations returns what is known of every host: own counts, and others'
// summed over observers.
func (s *RepStore) Reputations(ctx context.Context) (map[string]Reputation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT subject,
		sum(CASE WHEN observer = ?1 THEN hits ELSE 0 END), sum(CASE WHEN observer = ?1 THEN misses ELSE 0 END),
		sum(CASE WHEN observer != ?1 THEN hits ELSE 0 END), sum(CASE WHEN observer != ?1 THEN misses ELSE 0 END)
		FROM broker_rep GROUP BY subject`, s.self)
	if err != nil {
		return nil, fmt.Errorf("read reputation: %w", err)
	}
	defer rows.Close()
	out := map[string]Reputation{}
	for rows.Next() {
		var subject string
		var r Reputation
		if err := rows.Scan(&subject, &r.Hits, &r.Misses, &r.OtherHits, &r.OtherMisses); err != nil {
			return nil, err
		}
		out[subject] = r
	}
	return out, rows.Err()
}
