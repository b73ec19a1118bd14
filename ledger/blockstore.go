package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// ErrBlockNotFound reports a block name the store does not hold.
var ErrBlockNotFound = errors.New("block not found")

// BlockStore keeps the cluster's blocks (tables ledger_blocks,
// ledger_block_parents, ledger_block_tips). It stores a block only when
// all its parents are stored, so what it holds is always a closed DAG. It
// is safe for concurrent use and starts no goroutines.
type BlockStore struct {
	db *sql.DB
	// mu serializes writes so that concurrent adders queue here rather
	// than in SQLite's busy handler.
	mu sync.Mutex
}

// Head is an author's highest stored block.
type Head struct {
	Author identity.NodeID
	Height uint64
	Name   BlockName
}

// StoredBlock is a block with its local arrival number (ascending in the
// order this store took blocks in).
type StoredBlock struct {
	Arrival int64
	Block   Block
}

// OpenBlockStore migrates the ledger tables in db and returns a BlockStore
// over them.
func OpenBlockStore(ctx context.Context, db *sql.DB) (*BlockStore, error) {
	if err := sqlitedb.Migrate(ctx, db, "ledger", migrations); err != nil {
		return nil, fmt.Errorf("open block store: %w", err)
	}
	return &BlockStore{db: db}, nil
}

// Add stores b, which the caller has verified (VerifyBlock) and checked
// the cluster of. It reports false when b is stored already. It refuses,
// changing nothing, a block whose parents are not all stored
// (*MissingParentsError), one that breaks its author's chain
// (ErrInvalidBlock) and a second block by one author at one height
// (ErrBlockConflict).
func (s *BlockStore) Add(ctx context.Context, b Block) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var added bool
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var err error
		added, err = insertBlock(ctx, tx, b)
		return err
	})
	return added, err
}

// AddAll stores the verified blocks bs, in any order, all or none: a block
// whose parents are neither stored nor among bs, or any other refusal,
// leaves the store unchanged. It returns how many blocks were new.
func (s *BlockStore) AddAll(ctx context.Context, bs []Block) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var added int
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		added = 0
		pending := slices.Clone(bs)
		for len(pending) > 0 {
			var next []Block
			var missing error
			for _, b := range pending {
				ok, err := insertBlock(ctx, tx, b)
				var mp *MissingParentsError
				switch {
				case errors.As(err, &mp):
					next, missing = append(next, b), err
				case err != nil:
					return err
				case ok:
					added++
				}
			}
			if len(next) == len(pending) {
				return missing // no progress: a parent is outside the set
			}
			pending = next
		}
		return nil
	})
	return added, err
}

// AddMany stores the verified blocks bs in order, in one transaction,
// each as Add would: refused[i] is why bs[i] was not stored (nil when it
// was stored or known), added[i] whether it was new. A refusal of one
// block does not stop the others; err is a failure of the store itself,
// after which nothing is stored.
func (s *BlockStore) AddMany(ctx context.Context, bs []Block) (refused []error, added []bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err = sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		refused, added = make([]error, len(bs)), make([]bool, len(bs))
		for i, b := range bs {
			ok, err := insertBlock(ctx, tx, b)
			switch {
			case errors.Is(err, ErrMissingParents), errors.Is(err, ErrInvalidBlock), errors.Is(err, ErrBlockConflict):
				// Refused before anything was written.
				refused[i] = err
			case err != nil:
				return err
			default:
				added[i] = ok
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return refused, added, nil
}

// insertBlock stores b in tx; see Add. Every refusal comes before its
// first write.
func insertBlock(ctx context.Context, tx *sql.Tx, b Block) (bool, error) {
	name := b.Name()
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM ledger_blocks WHERE name = ?`, name[:]).Scan(&one); {
	case err == nil:
		return false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("look up block %s: %w", name, err)
	}
	var missing []BlockName
	own := 0
	for _, p := range b.ParentNames() {
		var author string
		var height uint64
		err := tx.QueryRowContext(ctx, `SELECT author, height FROM ledger_blocks WHERE name = ?`, p[:]).Scan(&author, &height)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			missing = append(missing, p)
			continue
		case err != nil:
			return false, fmt.Errorf("look up parent %s: %w", p, err)
		}
		if identity.NodeID(author) == b.Author {
			if height != b.Height-1 {
				return false, fmt.Errorf("%w: block %d by %s names its author's block %d as a parent, not %d", ErrInvalidBlock, b.Height, b.Author, height, b.Height-1)
			}
			own++
		}
	}
	if len(missing) > 0 {
		return false, &MissingParentsError{Block: name, Missing: missing}
	}
	if b.Height > 1 && own != 1 {
		return false, fmt.Errorf("%w: block %d by %s does not name its author's block %d as a parent", ErrInvalidBlock, b.Height, b.Author, b.Height-1)
	}
	var other []byte
	switch err := tx.QueryRowContext(ctx, `SELECT name FROM ledger_blocks WHERE author = ? AND height = ?`, string(b.Author), int64(b.Height)).Scan(&other); {
	case err == nil:
		return false, fmt.Errorf("%w: %s already signed block %d (%x); this one is %s", ErrBlockConflict, b.Author, b.Height, other, name)
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("look up block %d by %s: %w", b.Height, b.Author, err)
	}
	first, last := b.Seqs()
	if len(b.Receipts) > 0 {
		// Each receipt enters its author's chain once: a block carries
		// only receipts after those of the author's earlier blocks.
		var prev int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(last_seq), 0) FROM ledger_blocks WHERE author = ?`, string(b.Author)).Scan(&prev); err != nil {
			return false, fmt.Errorf("read last sealed receipt of %s: %w", b.Author, err)
		}
		if first <= uint64(prev) {
			return false, fmt.Errorf("%w: block %d by %s carries receipt %d, which an earlier block of its author has (up to %d)", ErrInvalidBlock, b.Height, b.Author, first, prev)
		}
	}
	if last > math.MaxInt64 {
		return false, fmt.Errorf("%w: receipt seq %d out of range", ErrInvalidBlock, last)
	}
	js, err := json.Marshal(b)
	if err != nil {
		return false, fmt.Errorf("encode block %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_blocks (name, author, height, receipts, first_seq, last_seq, block_json)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, name[:], string(b.Author), int64(b.Height), len(b.Receipts), int64(first), int64(last), string(js)); err != nil {
		return false, fmt.Errorf("insert block %s: %w", name, err)
	}
	for _, p := range b.ParentNames() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_block_parents (child, parent) VALUES (?, ?)`, name[:], p[:]); err != nil {
			return false, fmt.Errorf("insert parent of %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ledger_block_tips WHERE name = ?`, p[:]); err != nil {
			return false, fmt.Errorf("update tips: %w", err)
		}
	}
	// A block that arrives after a child of it (only possible through a
	// merge of a set in child-first order, which AddAll retries) is no tip.
	var children int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ledger_block_parents WHERE parent = ?`, name[:]).Scan(&children); err != nil {
		return false, fmt.Errorf("count children of %s: %w", name, err)
	}
	if children == 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_block_tips (name) VALUES (?)`, name[:]); err != nil {
			return false, fmt.Errorf("update tips: %w", err)
		}
	}
	return true, nil
}

// Seal puts k's receipts that no block of k's carries yet (at most max,
// oldest first) into k's next block, whose parents are k's previous block
// and the newest other tips, and stores it. ok is false when there is
// nothing to seal.
func (s *BlockStore) Seal(ctx context.Context, k *identity.Keys, cluster string, max int) (b Block, ok bool, err error) {
	if max < 1 || max > MaxBlockReceipts {
		return Block{}, false, fmt.Errorf("seal: %d receipts per block, want 1-%d", max, MaxBlockReceipts)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var height, lastSeq int64
		var prev []byte
		err := tx.QueryRowContext(ctx, `SELECT height, name FROM ledger_blocks WHERE author = ? ORDER BY height DESC LIMIT 1`, string(k.ID())).Scan(&height, &prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read own last block: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(last_seq), 0) FROM ledger_blocks WHERE author = ?`, string(k.ID())).Scan(&lastSeq); err != nil {
			return fmt.Errorf("read last sealed receipt: %w", err)
		}
		rs, err := queryReceipts(ctx, tx, `SELECT receipt_json FROM ledger_receipts WHERE seq > ? ORDER BY seq LIMIT ?`, lastSeq, max)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return nil
		}
		var parents []BlockName
		if prev != nil {
			parents = append(parents, BlockName(prev))
		}
		rows, err := tx.QueryContext(ctx, `SELECT t.name FROM ledger_block_tips t JOIN ledger_blocks b ON b.name = t.name
			WHERE b.author != ? ORDER BY b.arrival DESC LIMIT ?`, string(k.ID()), MaxBlockParents-1)
		if err != nil {
			return fmt.Errorf("read tips: %w", err)
		}
		for rows.Next() {
			var n []byte
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return fmt.Errorf("read tips: %w", err)
			}
			parents = append(parents, BlockName(n))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read tips: %w", err)
		}
		for n := len(rs); ; n /= 2 {
			b, err = NewBlock(k, cluster, uint64(height)+1, parents, rs[:n])
			if err != nil {
				return fmt.Errorf("seal block %d: %w", height+1, err)
			}
			js, err := json.Marshal(b)
			if err != nil {
				return fmt.Errorf("seal block %d: %w", height+1, err)
			}
			if len(js) <= MaxBlockJSON || n == 1 {
				break
			}
		}
		if _, err := insertBlock(ctx, tx, b); err != nil {
			return fmt.Errorf("store own block %d: %w", b.Height, err)
		}
		ok = true
		return nil
	})
	if err != nil {
		return Block{}, false, err
	}
	return b, ok, nil
}

// Get returns the block named n, or an error wrapping ErrBlockNotFound.
func (s *BlockStore) Get(ctx context.Context, n BlockName) (Block, error) {
	var js string
	err := s.db.QueryRowContext(ctx, `SELECT block_json FROM ledger_blocks WHERE name = ?`, n[:]).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return Block{}, fmt.Errorf("%w: %s", ErrBlockNotFound, n)
	}
	if err != nil {
		return Block{}, fmt.Errorf("read block %s: %w", n, err)
	}
	return decodeStored(js)
}

// Has reports whether the block named n is stored.
func (s *BlockStore) Has(ctx context.Context, n BlockName) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM ledger_blocks WHERE name = ?`, n[:]).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up block %s: %w", n, err)
	}
	return true, nil
}

// Heads returns every author's highest stored block, by author.
func (s *BlockStore) Heads(ctx context.Context) ([]Head, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT author, MAX(height), name FROM ledger_blocks GROUP BY author ORDER BY author`)
	if err != nil {
		return nil, fmt.Errorf("read heads: %w", err)
	}
	defer rows.Close()
	var out []Head
	for rows.Next() {
		var h Head
		var author string
		var height int64
		var name []byte
		if err := rows.Scan(&author, &height, &name); err != nil {
			return nil, fmt.Errorf("read heads: %w", err)
		}
		h.Author, h.Height, h.Name = identity.NodeID(author), uint64(height), BlockName(name)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read heads: %w", err)
	}
	return out, nil
}

// ByAuthor returns up to limit of author's blocks above height after, in
// ascending height.
func (s *BlockStore) ByAuthor(ctx context.Context, author identity.NodeID, after uint64, limit int) ([]Block, error) {
	sbs, err := s.Above(ctx, author, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Block, len(sbs))
	for i, sb := range sbs {
		out[i] = sb.Block
	}
	return out, nil
}

// Above is ByAuthor with each block's arrival number.
func (s *BlockStore) Above(ctx context.Context, author identity.NodeID, after uint64, limit int) ([]StoredBlock, error) {
	if limit < 1 {
		return nil, fmt.Errorf("blocks by author: limit %d is not positive", limit)
	}
	if after >= math.MaxInt64 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT arrival, block_json FROM ledger_blocks WHERE author = ? AND height > ? ORDER BY height LIMIT ?`,
		string(author), int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("read blocks of %s: %w", author, err)
	}
	return scanBlocks(rows)
}

// Recent returns up to limit blocks that arrived before arrival number
// before (0: the newest), newest first.
func (s *BlockStore) Recent(ctx context.Context, before int64, limit int) ([]StoredBlock, error) {
	if limit < 1 {
		return nil, fmt.Errorf("recent blocks: limit %d is not positive", limit)
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.db.QueryContext(ctx, `SELECT arrival, block_json FROM ledger_blocks WHERE arrival < ? ORDER BY arrival DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read recent blocks: %w", err)
	}
	return scanBlocks(rows)
}

// Count returns the number of stored blocks.
func (s *BlockStore) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM ledger_blocks`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count blocks: %w", err)
	}
	return n, nil
}

// Tips returns the names of the stored blocks no stored block names as a
// parent, in ascending order.
func (s *BlockStore) Tips(ctx context.Context) ([]BlockName, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM ledger_block_tips ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read tips: %w", err)
	}
	defer rows.Close()
	var out []BlockName
	for rows.Next() {
		var n []byte
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read tips: %w", err)
		}
		out = append(out, BlockName(n))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tips: %w", err)
	}
	return out, nil
}

func scanBlocks(rows *sql.Rows) ([]StoredBlock, error) {
	defer rows.Close()
	var out []StoredBlock
	for rows.Next() {
		var sb StoredBlock
		var js string
		if err := rows.Scan(&sb.Arrival, &js); err != nil {
			return nil, fmt.Errorf("scan block: %w", err)
		}
		b, err := decodeStored(js)
		if err != nil {
			return nil, err
		}
		sb.Block = b
		out = append(out, sb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read blocks: %w", err)
	}
	return out, nil
}

func decodeStored(js string) (Block, error) {
	var b Block
	if err := json.Unmarshal([]byte(js), &b); err != nil {
		return Block{}, fmt.Errorf("decode stored block: %w", err)
	}
	return b, nil
}

// receiptQuerier is what queryReceipts reads from: the database or a
// transaction.
type receiptQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryReceipts runs q, which selects receipt_json, and decodes the rows.
func queryReceipts(ctx context.Context, db receiptQuerier, q string, args ...any) ([]Receipt, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query receipts: %w", err)
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var js string
		if err := rows.Scan(&js); err != nil {
			return nil, fmt.Errorf("scan receipt: %w", err)
		}
		var r Receipt
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			return nil, fmt.Errorf("decode stored receipt: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query receipts: %w", err)
	}
	return out, nil
}
