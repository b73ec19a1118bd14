package ledger

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps a node's own signed receipts in SQLite (table
// ledger_receipts). It is safe for concurrent use; it starts no goroutines.
//
// Appends are group-committed in a two-stage pipeline run by the callers
// themselves. Concurrent SignAndAppend calls queue (at most
// maxPendingAppends); one of them, the leader, takes up to maxAppendBatch
// queued receipts, numbers them after the last seq it expects to be
// stored and signs them (on every CPU), then waits its turn to commit,
// passes the lead to the oldest receipt still queued, and stores its batch
// in one write transaction. So batch N+1 is signed while batch N commits.
// The transaction checks what was expected (the last stored seq; no
// stored receipt for the same job, by the unique index) and numbers and
// signs again when it was wrong. A caller returns only after the transaction holding its
// receipt has committed (or failed), so durability is that of one append
// per transaction.
type Store struct {
	db *sql.DB

	// pending bounds the appends queued or in flight: a caller waits for
	// a slot (or its context) before queueing.
	pending chan struct{}

	// commitMu is held by the leader whose batch is being committed;
	// leaders take it in the order they took their batches (a leader
	// takes it before passing the lead on). Lock order: commitMu before mu.
	commitMu sync.Mutex

	// mu guards queue, leading, tail and tailGen.
	mu sync.Mutex
	// queue holds the appends not yet taken into a batch, oldest first.
	// When leading, queue[0] (if any) is the next leader.
	queue []*appendReq
	// leading is true while some caller signs a batch or has been woken
	// to take the next one.
	leading bool
	// tail is the seq the last batch handed to commit is expected to end
	// at, 0 when unknown (read from the table). tailGen counts its writes,
	// so a committer corrects it only while no later batch has set it.
	tail    uint64
	tailGen uint64
}

const (
	// maxAppendBatch bounds the receipts of one transaction, so that a
	// leader's own wait stays short under a long queue.
	maxAppendBatch = 256
	// maxPendingAppends bounds the appends queued or in flight.
	maxPendingAppends = 4 * maxAppendBatch
)

// appendReq is one SignAndAppend waiting in the queue. state is written
// under Store.mu; out, js and err by the leader before it wakes the caller.
type appendReq struct {
	k     *identity.Keys
	r     Receipt
	state appendState
	wake  chan struct{} // buffered 1: the result is ready, or lead
	out   Receipt
	js    []byte // out as stored in receipt_json
	err   error
}

type appendState int

const (
	appendQueued appendState = iota // in Store.queue; the caller may withdraw it
	appendTaken                     // in a leader's batch
	appendLead                      // the caller takes the next batch
)

// OpenStore migrates the ledger tables in db and returns a Store over them.
// db should come from internal/sqlitedb.Open (write transactions take the
// lock at BEGIN, so concurrent appends queue instead of failing).
func OpenStore(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlitedb.Migrate(ctx, db, "ledger", migrations); err != nil {
		return nil, fmt.Errorf("open ledger store: %w", err)
	}
	return &Store{db: db, pending: make(chan struct{}, maxPendingAppends)}, nil
}

// SignAndAppend gives r the next sequence number, signs it with k and stores
// it, and returns the stored receipt once it is committed. The caller sets
// every other field (IssuedAt too: the store reads no clock). Concurrent
// callers never get the same Seq, seqs stay contiguous, and on error
// nothing is stored for r. When ctx ends while r is still queued, r is
// withdrawn and ctx's error returned; once r is taken into a batch the
// call waits for that batch's commit whatever ctx does, so an error always
// means r was not stored.
func (s *Store) SignAndAppend(ctx context.Context, k *identity.Keys, r Receipt) (Receipt, error) {
	if err := r.Validate(); err != nil {
		return Receipt{}, fmt.Errorf("append receipt: %w", err)
	}
	if err := ctx.Err(); err != nil {
		// Checked first: select below picks at random among ready cases.
		return Receipt{}, fmt.Errorf("append receipt for job %q: %w", r.JobID, err)
	}
	select {
	case s.pending <- struct{}{}:
	case <-ctx.Done():
		return Receipt{}, fmt.Errorf("append receipt for job %q: %w", r.JobID, ctx.Err())
	}
	defer func() { <-s.pending }()

	req := &appendReq{k: k, r: r, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, req)
	if !s.leading {
		s.leading = true
		req.state = appendLead
		req.wake <- struct{}{}
	}
	s.mu.Unlock()

	select {
	case <-req.wake:
	case <-ctx.Done():
		s.mu.Lock()
		if req.state == appendQueued {
			s.queue = slices.DeleteFunc(s.queue, func(q *appendReq) bool { return q == req })
			s.mu.Unlock()
			return Receipt{}, fmt.Errorf("append receipt for job %q: %w", r.JobID, ctx.Err())
		}
		s.mu.Unlock()
		<-req.wake
	}
	if req.state == appendLead {
		// Other callers' receipts are in this transaction: it runs to the
		// end even when this caller's ctx ends.
		s.lead(context.WithoutCancel(ctx))
	}
	if req.err != nil {
		return Receipt{}, fmt.Errorf("append receipt for job %q: %w", r.JobID, req.err)
	}
	return req.out, nil
}

// lead takes one batch from the head of the queue (the leader's own
// receipt first), signs it, commits it after the batches taken before it,
// and wakes the batch's other callers. It passes the lead on once its
// batch is signed and next to commit.
func (s *Store) lead(ctx context.Context) {
	s.mu.Lock()
	n := min(len(s.queue), maxAppendBatch)
	batch := slices.Clone(s.queue[:n])
	s.queue = slices.Delete(s.queue, 0, n)
	for _, q := range batch {
		q.state = appendTaken
	}
	tail := s.tail
	s.mu.Unlock()

	if tail == 0 {
		// Only a guess until the transaction: a wrong one costs a second
		// signing, never a wrong seq.
		if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM ledger_receipts`).Scan(&tail); err != nil {
			tail = 0
		}
	}
	run := signRun(uniqueJobs(batch), tail)

	s.commitMu.Lock()
	s.mu.Lock()
	s.tail = tail + uint64(len(run))
	s.tailGen++
	gen := s.tailGen
	if len(s.queue) > 0 {
		next := s.queue[0]
		next.state = appendLead
		next.wake <- struct{}{}
	} else {
		s.leading = false
	}
	s.mu.Unlock()

	var last uint64
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) (err error) {
		last, err = appendRun(ctx, tx, run, tail)
		return err
	})
	if err != nil {
		for _, q := range batch {
			q.out, q.err = Receipt{}, err
		}
		last = 0
	}
	s.mu.Lock()
	if s.tailGen == gen && s.tail != last {
		s.tail = last
	}
	s.mu.Unlock()
	s.commitMu.Unlock()

	for _, q := range batch[1:] {
		q.wake <- struct{}{}
	}
}

// uniqueJobs returns batch without the receipts for a job already earlier
// in batch, which get ErrDuplicateJob.
func uniqueJobs(batch []*appendReq) []*appendReq {
	seen := make(map[jobKey]struct{}, len(batch))
	run := make([]*appendReq, 0, len(batch))
	for _, q := range batch {
		key := jobKey{q.r.JobID, q.r.ResourceType}
		if _, dup := seen[key]; dup {
			q.err = ErrDuplicateJob
			continue
		}
		seen[key] = struct{}{}
		run = append(run, q)
	}
	return run
}

// signRun numbers the receipts of run from after and signs them. A
// receipt that cannot be signed leaves the run; the ones after it are
// signed again with their new seqs, so seqs stay contiguous. It returns
// the signed run.
func signRun(run []*appendReq, after uint64) []*appendReq {
	for {
		for i, q := range run {
			q.r.Seq = after + 1 + uint64(i)
		}
		signAll(run)
		kept := slices.DeleteFunc(slices.Clone(run), func(q *appendReq) bool { return q.err != nil })
		if len(kept) == len(run) {
			return run
		}
		run = kept
	}
}

// appendRun stores run, signed with seqs from after+1, in tx, and returns
// the last seq stored. When the table does not end at after, run is
// numbered and signed again first. A receipt for a job the table already
// holds is not inserted (ON CONFLICT DO NOTHING, so no lookup per receipt
// in the usual case) and gets ErrDuplicateJob; the receipts after it are
// numbered and signed again. An error returned fails the whole
// transaction.
func appendRun(ctx context.Context, tx *sql.Tx, run []*appendReq, after uint64) (uint64, error) {
	var last uint64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM ledger_receipts`).Scan(&last); err != nil {
		return 0, fmt.Errorf("read last seq: %w", err)
	}
	if last != after {
		run = signRun(run, last)
	}
	switch ok, err := insertAll(ctx, tx, run); {
	case err != nil:
		return 0, err
	case ok:
		return run[len(run)-1].out.Seq, nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO ledger_receipts
		(seq, job_id, resource_type, units, issued_at, receipt_json, consumer_id) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job_id, resource_type) DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("insert receipts: %w", err)
	}
	defer stmt.Close()
	for i := 0; i < len(run); i++ {
		q := run[i]
		res, err := stmt.ExecContext(ctx, int64(q.out.Seq), q.out.JobID, q.out.ResourceType, q.out.Units, q.out.IssuedAt, string(q.js),
			string(q.out.ConsumerID))
		if err != nil {
			return 0, fmt.Errorf("insert receipt %d: %w", q.out.Seq, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("insert receipt %d: %w", q.out.Seq, err)
		}
		if n == 1 {
			last = q.out.Seq
			continue
		}
		q.out, q.js, q.err = Receipt{}, nil, ErrDuplicateJob
		rest := signRun(slices.Clone(run[i+1:]), last)
		run = append(run[:i+1:i+1], rest...)
	}
	return last, nil
}

// insertAll inserts run in one statement, the usual case, where no job of
// run is stored yet: one statement costs a batch far less than one per
// receipt. When some job is stored already it inserts nothing and returns
// false, and appendRun goes receipt by receipt to find it. A run of one,
// the usual append outside bursts, goes that way at once: for it the
// savepoint would only add statements.
func insertAll(ctx context.Context, tx *sql.Tx, run []*appendReq) (bool, error) {
	if len(run) < 2 {
		return false, nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO ledger_receipts (seq, job_id, resource_type, units, issued_at, receipt_json, consumer_id) VALUES `)
	args := make([]any, 0, 7*len(run))
	for i, r := range run {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		args = append(args, int64(r.out.Seq), r.out.JobID, r.out.ResourceType, r.out.Units, r.out.IssuedAt, string(r.js), string(r.out.ConsumerID))
	}
	q.WriteString(` ON CONFLICT (job_id, resource_type) DO NOTHING`)
	if _, err := tx.ExecContext(ctx, `SAVEPOINT receipts_all`); err != nil {
		return false, fmt.Errorf("insert receipts: %w", err)
	}
	res, err := tx.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return false, fmt.Errorf("insert receipts %d-%d: %w", run[0].out.Seq, run[len(run)-1].out.Seq, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert receipts: %w", err)
	}
	if n == int64(len(run)) {
		_, err = tx.ExecContext(ctx, `RELEASE receipts_all`)
		return err == nil, err
	}
	if _, err := tx.ExecContext(ctx, `ROLLBACK TO receipts_all`); err != nil {
		return false, fmt.Errorf("insert receipts: %w", err)
	}
	_, err = tx.ExecContext(ctx, `RELEASE receipts_all`)
	return false, err
}

type jobKey struct{ job, resource string }

// signAll signs and encodes every receipt of run, spread over the CPUs:
// that is most of an append's CPU time, and the batch's commit waits for
// it. A receipt that fails gets its error in err.
func signAll(run []*appendReq) {
	workers := min(runtime.GOMAXPROCS(0), len(run))
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(run) {
				return
			}
			q := run[i]
			q.out, q.js, q.err = signReceipt(q.k, q.r)
		}
	}
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// signReceipt signs r with k and encodes it for receipt_json.
func signReceipt(k *identity.Keys, r Receipt) (Receipt, []byte, error) {
	signed, err := SignReceipt(k, r)
	if err != nil {
		return Receipt{}, nil, err
	}
	// MarshalJSON itself: json.Marshal would scan its output once more.
	js, err := signed.MarshalJSON()
	if err != nil {
		return Receipt{}, nil, fmt.Errorf("encode receipt %d: %w", signed.Seq, err)
	}
	return signed, js, nil
}

// Accept stores the consumer's acceptance of one of the node's receipts. r
// must be the stored receipt (same ID) carrying a valid acceptance. A
// repeated acceptance changes nothing. Errors wrap ErrBadAcceptance,
// ErrBadSignature or ErrInvalidReceipt, or ErrUnknownReceipt when no stored
// receipt has r's seq and ID.
func (s *Store) Accept(ctx context.Context, r Receipt) error {
	if err := r.VerifyAccepted(); err != nil {
		return fmt.Errorf("accept receipt: %w", err)
	}
	id, err := r.ID()
	if err != nil {
		return fmt.Errorf("accept receipt: %w", err)
	}
	if r.Seq == 0 || r.Seq >= math.MaxInt64 {
		return fmt.Errorf("accept receipt %d: %w", r.Seq, ErrUnknownReceipt)
	}
	return sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var js string
		err := tx.QueryRowContext(ctx, `SELECT receipt_json FROM ledger_receipts WHERE seq = ?`, int64(r.Seq)).Scan(&js)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("accept receipt %d: %w", r.Seq, ErrUnknownReceipt)
		}
		if err != nil {
			return fmt.Errorf("accept receipt %d: %w", r.Seq, err)
		}
		var stored Receipt
		if err := json.Unmarshal([]byte(js), &stored); err != nil {
			return fmt.Errorf("decode stored receipt %d: %w", r.Seq, err)
		}
		if sid, err := stored.ID(); err != nil || sid != id {
			return fmt.Errorf("accept receipt %d: %w: it differs from the stored receipt", r.Seq, ErrUnknownReceipt)
		}
		if stored.Acceptance != "" {
			return nil
		}
		stored.Acceptance = r.Acceptance
		out, err := json.Marshal(stored)
		if err != nil {
			return fmt.Errorf("encode receipt %d: %w", r.Seq, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ledger_receipts SET receipt_json = ?, accepted = 1 WHERE seq = ?`,
			string(out), int64(r.Seq)); err != nil {
			return fmt.Errorf("store acceptance of receipt %d: %w", r.Seq, err)
		}
		return nil
	})
}

// Accepted returns up to limit of the node's accepted receipts whose
// consumer is consumer, newest first.
func (s *Store) Accepted(ctx context.Context, consumer identity.NodeID, limit int) ([]Receipt, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("accepted receipts: limit %d is not positive", limit)
	}
	return queryReceipts(ctx, s.db, `SELECT receipt_json FROM ledger_receipts WHERE accepted = 1 AND consumer_id = ?
		ORDER BY seq DESC LIMIT ?`, string(consumer), limit)
}

// Job returns the receipt this node signed for a job and resource, and
// false when it signed none.
func (s *Store) Job(ctx context.Context, jobID, resource string) (Receipt, bool, error) {
	return firstReceipt(queryReceipts(ctx, s.db, `SELECT receipt_json FROM ledger_receipts WHERE job_id = ? AND resource_type = ?`,
		jobID, resource))
}

// Newest returns this node's newest receipt of a resource for consumer, and
// false when there is none.
func (s *Store) Newest(ctx context.Context, consumer identity.NodeID, resource string) (Receipt, bool, error) {
	return firstReceipt(queryReceipts(ctx, s.db, `SELECT receipt_json FROM ledger_receipts WHERE consumer_id = ? AND resource_type = ?
		ORDER BY seq DESC LIMIT 1`, string(consumer), resource))
}

// firstReceipt is the first of rs, if any.
func firstReceipt(rs []Receipt, err error) (Receipt, bool, error) {
	if err != nil || len(rs) == 0 {
		return Receipt{}, false, err
	}
	return rs[0], true, nil
}

// Consumers returns up to limit consumers that accepted receipts of this
// node, the one with the newest accepted receipt first.
func (s *Store) Consumers(ctx context.Context, limit int) ([]identity.NodeID, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("consumers: limit %d is not positive", limit)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT consumer_id FROM ledger_receipts WHERE accepted = 1
		GROUP BY consumer_id ORDER BY MAX(seq) DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("query consumers: %w", err)
	}
	defer rows.Close()
	var out []identity.NodeID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan consumer: %w", err)
		}
		out = append(out, identity.NodeID(id))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query consumers: %w", err)
	}
	return out, nil
}

// Recent returns up to limit receipts, newest (highest Seq) first.
func (s *Store) Recent(ctx context.Context, limit int) ([]Receipt, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("recent receipts: limit %d is not positive", limit)
	}
	return queryReceipts(ctx, s.db, `SELECT receipt_json FROM ledger_receipts ORDER BY seq DESC LIMIT ?`, limit)
}

// Since returns up to limit receipts with Seq > afterSeq in ascending Seq
// order, for paging through the ledger or building a Batch.
func (s *Store) Since(ctx context.Context, afterSeq uint64, limit int) ([]Receipt, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("receipts since %d: limit %d is not positive", afterSeq, limit)
	}
	if afterSeq >= math.MaxInt64 {
		return nil, nil
	}
	return queryReceipts(ctx, s.db, `SELECT receipt_json FROM ledger_receipts WHERE seq > ? ORDER BY seq LIMIT ?`, int64(afterSeq), limit)
}

// Count returns the number of stored receipts.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_receipts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count receipts: %w", err)
	}
	return n, nil
}
