package broker

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Job states.
const (
	StateQueued  = "queued"
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// ErrNoJob is an unknown job ID.
var ErrNoJob = errors.New("no such job")

// Job is a job this node brokers.
type Job struct {
	ID       string
	State    string
	R        int
	MaxPrice int64
	Timeout  time.Duration
	Module   []byte
	Input    []byte
	Created  time.Time
	Finished time.Time
	// OutputHash is the accepted output's BLAKE3 in hex.
	OutputHash string
	Error      string
	Detail     Detail
	// Hosts, when not empty, are the only hosts (node IDs or endpoints)
	// the job may be quoted and dispatched to.
	Hosts []string
}

// Detail is what the broker learned while running a job: the candidates'
// scores and why, every dispatch and its answer.
type Detail struct {
	Candidates []CandidateView `json:"candidates"`
	Dispatches []DispatchView  `json:"dispatches"`
}

// CandidateView is one scored candidate (or one skipped, with Skipped set).
type CandidateView struct {
	HostID  string  `json:"host_id"`
	Price   int64   `json:"price"`
	Score   float64 `json:"score"`
	Why     string  `json:"why"`
	Skipped string  `json:"skipped,omitempty"`
}

// DispatchView is one dispatch of the job to a host and how it ended.
type DispatchView struct {
	HostID     string  `json:"host_id"`
	State      string  `json:"state"`
	Progress   float64 `json:"progress"`
	OutputHash string  `json:"output_hash,omitempty"`
	Outcome    string  `json:"outcome,omitempty"` // majority, minority, late, failed
	Note       string  `json:"note,omitempty"`
}

// JobStore keeps brokered jobs in SQLite (migrated by OpenRepStore's
// component "broker").
type JobStore struct{ db *sql.DB }

// NewJobStore returns the job store of db; OpenRepStore must have migrated it.
func NewJobStore(db *sql.DB) *JobStore { return &JobStore{db: db} }

// Create records a new queued job.
func (s *JobStore) Create(ctx context.Context, j Job) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO broker_jobs(id, state, r, max_price, timeout_ms, module, input, created_ms, hosts)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.ID, StateQueued, j.R, j.MaxPrice, j.Timeout.Milliseconds(), j.Module, j.Input, j.Created.UnixMilli(),
		strings.Join(j.Hosts, "\n"))
	if err != nil {
		return fmt.Errorf("record job: %w", err)
	}
	return nil
}

// Update stores a job's state, detail and, when finished, its output.
func (s *JobStore) Update(ctx context.Context, j Job, output []byte) error {
	d, err := json.Marshal(j.Detail)
	if err != nil {
		return err
	}
	var fin int64
	if !j.Finished.IsZero() {
		fin = j.Finished.UnixMilli()
	}
	_, err = s.db.ExecContext(ctx, `UPDATE broker_jobs SET state = ?, finished_ms = ?, output_hash = ?, error = ?, detail = ?,
		output = coalesce(?, output) WHERE id = ?`, j.State, fin, j.OutputHash, j.Error, string(d), output, j.ID)
	if err != nil {
		return fmt.Errorf("update job %s: %w", j.ID, err)
	}
	return nil
}

const jobColumns = `id, state, r, max_price, timeout_ms, created_ms, finished_ms, output_hash, error, detail, hosts`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var timeout, created, finished int64
	var detail, hosts string
	if err := row.Scan(&j.ID, &j.State, &j.R, &j.MaxPrice, &timeout, &created, &finished, &j.OutputHash, &j.Error, &detail, &hosts); err != nil {
		return Job{}, err
	}
	if hosts != "" {
		j.Hosts = strings.Split(hosts, "\n")
	}
	j.Timeout = time.Duration(timeout) * time.Millisecond
	j.Created = time.UnixMilli(created).UTC()
	if finished != 0 {
		j.Finished = time.UnixMilli(finished).UTC()
	}
	if err := json.Unmarshal([]byte(detail), &j.Detail); err != nil {
		return Job{}, fmt.Errorf("job %s detail: %w", j.ID, err)
	}
	return j, nil
}

// Get returns a job without its module and input.
func (s *JobStore) Get(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM broker_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("%w: %s", ErrNoJob, id)
	}
	return j, err
}

// Payload returns a job's module and input.
func (s *JobStore) Payload(ctx context.Context, id string) (module, input []byte, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT module, input FROM broker_jobs WHERE id = ?`, id).Scan(&module, &input)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoJob, id)
	}
	return module, input, err
}

// Output returns a finished job's output.
func (s *JobStore) Output(ctx context.Context, id string) ([]byte, error) {
	var out []byte
	var state string
	err := s.db.QueryRowContext(ctx, `SELECT state, output FROM broker_jobs WHERE id = ?`, id).Scan(&state, &out)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNoJob, id)
	}
	if err == nil && state != StateDone {
		return nil, fmt.Errorf("%w: job %s is %s", ErrNoOutput, id, state)
	}
	return out, err
}

// ErrNoOutput is a job that has no output (yet).
var ErrNoOutput = errors.New("job has no output")

// List returns up to limit jobs, newest first.
func (s *JobStore) List(ctx context.Context, limit int) ([]Job, error) {
	return s.query(ctx, `SELECT `+jobColumns+` FROM broker_jobs ORDER BY created_ms DESC, id LIMIT ?`, limit)
}

// Unfinished returns the jobs a restart must resume, oldest first.
func (s *JobStore) Unfinished(ctx context.Context) ([]Job, error) {
	return s.query(ctx, `SELECT `+jobColumns+` FROM broker_jobs WHERE state IN ('queued', 'running') ORDER BY created_ms, id`)
}

func (s *JobStore) query(ctx context.Context, q string, args ...any) ([]Job, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
