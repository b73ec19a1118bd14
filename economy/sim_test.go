package economy

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

var (
	simSeed      = flag.Int64("seed", -1, "TestSimulation: replay only this schedule")
	simSchedules = flag.Int("schedules", 0, "TestSimulation: how many schedules (default 10000, "+
		"or $OFFGRID_SIM_SCHEDULES; fewer under the race detector)")
)

// simInvariants are further checks run after every schedule, on every
// honest node's ledger once all have seen every certificate. Settlement
// adds "every receipt is paid at most once" here.
var simInvariants []func(ctx context.Context, l *Ledger) error

// TestSimulation drives the real Witness and Ledger (SQLite files) through
// random schedules: wallets that transfer, equivocate and overspend,
// witnesses of which up to f < n/3 of the weight are Byzantine (voting for
// anything, withholding, lying in recovery reports), and a network that
// reorders, duplicates, loses and partitions messages, with nodes that
// crash and restart from their files. After each schedule it heals
// everything and checks: no two conflicting transactions of one (src,
// nonce) could gather a certificate from all the votes ever signed; no
// balance is negative; every ledger's balances sum to genesis + issuance
// and equal those recomputed from its certificates; every honest node has
// the same balances; every honest wallet's last transfer became final.
// A failing schedule prints its seed; -seed=N replays it.
func TestSimulation(t *testing.T) {
	n := 10_000
	if raceEnabled {
		n = 20 // the race detector slows a schedule tenfold; test-sim runs the 10,000
	}
	if v, err := strconv.Atoi(os.Getenv("OFFGRID_SIM_SCHEDULES")); err == nil && v > 0 {
		n = v
	}
	if *simSchedules > 0 {
		n = *simSchedules
	}
	first := int64(0)
	if *simSeed >= 0 {
		first, n = *simSeed, 1
	}
	// tmpfs when there is one: the files are real SQLite files either
	// way, and a disk's fsyncs would make 10,000 schedules take an hour.
	base := t.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "offgrid-econ-sim-")
		if err == nil {
			base = dir
			t.Cleanup(func() { os.RemoveAll(dir) })
		}
	}
	// Schedules are independent, each seeded by its number: workers (one
	// per CPU, each with its own files) share them out, and the lowest
	// failing seed is reported whatever the interleaving.
	workers := min(runtime.GOMAXPROCS(0), 4, n)
	seeds := make(chan int64)
	var (
		mu      sync.Mutex
		failed  = int64(-1)
		failure error
		total   simStats
		wg      sync.WaitGroup
	)
	for i := range workers {
		h := newSimHarness(t, filepath.Join(base, fmt.Sprint(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.close()
			for seed := range seeds {
				if err := h.run(seed); err != nil {
					mu.Lock()
					if failed < 0 || seed < failed {
						failed, failure = seed, err
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			total.add(h.stats)
			mu.Unlock()
		}()
	}
	for seed := first; seed < first+int64(n); seed++ {
		mu.Lock()
		stop := failed >= 0
		mu.Unlock()
		if stop {
			break
		}
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
	if failed >= 0 {
		t.Fatalf("schedule %d: %v\nreplay: go test -run '^TestSimulation$' ./economy/ -args -seed=%d", failed, failure, failed)
	}
	t.Logf("%d schedules (%d transfers final, %d recoveries, %d crashes)", n, total.final, total.recoveries, total.crashes)
}

type simStats struct{ final, recoveries, crashes int }

func (s *simStats) add(o simStats) {
	s.final += o.final
	s.recoveries += o.recoveries
	s.crashes += o.crashes
}

// simHarness keeps one SQLite file per node slot across schedules and
// empties it between them (opening a file costs more than a schedule).
type simHarness struct {
	dir   string
	dbs   []*sql.DB
	stats simStats
}

const simMaxNodes = 8

func newSimHarness(t *testing.T, dir string) *simHarness {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return &simHarness{dir: dir, dbs: make([]*sql.DB, simMaxNodes)}
}

func (h *simHarness) path(i int) string { return filepath.Join(h.dir, fmt.Sprintf("node%d.db", i)) }

// fresh returns slot i's database, emptied.
func (h *simHarness) fresh(ctx context.Context, i int) (*sql.DB, error) {
	if h.dbs[i] == nil {
		db, err := sqlitedb.Open(ctx, h.path(i))
		if err != nil {
			return nil, err
		}
		h.dbs[i] = db
	}
	for _, tbl := range append([]string{"economy_certs", "economy_balances", "economy_meta", "economy_locks"}, simSettleTables...) {
		// The tables exist after the first Open; before it there is nothing to empty.
		if _, err := h.dbs[i].ExecContext(ctx, "DELETE FROM "+tbl); err != nil && !isNoTable(err) {
			return nil, err
		}
	}
	return h.dbs[i], nil
}

func isNoTable(err error) bool { return err != nil && strings.Contains(err.Error(), "no such table") }

func (h *simHarness) close() {
	for _, db := range h.dbs {
		if db != nil {
			db.Close()
		}
	}
}

// Endpoints: nodes 0..len(nodes)-1, then wallets, then the issuer.
type simMsg struct {
	to, from int
	kind     string // sign, vote, cert, report-req, report, advance
	tx, b    Tx
	credits  []Certificate
	vote     Vote
	cert     Certificate
	report   Report
	reports  []Report
}

type simNode struct {
	keys    *identity.Keys // nil: an observer
	byz     bool
	up      bool
	db      *sql.DB
	ledger  *Ledger
	witness *Witness
}

type simWallet struct {
	keys     *identity.Keys // nil: the issuer (System)
	byz      bool
	pending  []Tx // the transactions of the current nonce (two when equivocating)
	votes    map[[32]byte]map[uint32]map[identity.NodeID]Vote
	reports  map[uint32]map[identity.NodeID]Report
	recovery bool       // asked for reports of its pending slot
	named    [][32]byte // receipts its settlements named
	// forgetful is otherwise honest but lost its record of payments: its
	// settlements name receipts it paid before (sim_settle_test.go).
	forgetful bool
}

func (w *simWallet) account() string {
	if w.keys == nil {
		return System
	}
	return string(w.keys.ID())
}

type simWorld struct {
	h        *simHarness
	ctx      context.Context
	rng      *rand.Rand
	w        world
	nodes    []*simNode
	wallets  []*simWallet
	group    []int // partition group per endpoint
	queue    []simMsg
	certs    map[[32]byte]Certificate // every certificate formed
	txs      map[[32]byte]Tx          // every transaction signed
	known    []map[[32]byte]bool      // per endpoint: certificates it has seen
	allVotes []Vote                   // every vote signed by an honest witness
	byzW     uint64
	recover  bool
	receipts int // receipts named by settlements so far
}

type issuancePolicy struct{ max int64 }

func (p issuancePolicy) ValidateTx(_ context.Context, t Tx) error {
	if t.Kind == KindIssuance && t.Amount <= p.max {
		return nil
	}
	return errors.New("policy refuses it")
}

func (h *simHarness) run(seed int64) error {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	nw := 4 + rng.IntN(3) // witnesses
	weights := make([]uint64, nw)
	for i := range weights {
		weights[i] = 1 + rng.Uint64N(3)
	}
	w, err := buildWorld(uint64(seed), weights, 3, 1000)
	if err != nil {
		return err
	}
	s := &simWorld{h: h, ctx: ctx, rng: rng, w: w, certs: map[[32]byte]Certificate{}, txs: map[[32]byte]Tx{}}
	s.recover = rng.IntN(2) == 0
	// Byzantine witnesses: f < n/3 of the weight, and within the recovery
	// bound when this schedule recovers equivocations.
	limit := (s.w.com.Total - 1) / 3
	if s.recover {
		limit = s.w.com.RecoveryFault
	}
	byz := make([]bool, nw)
	for _, i := range rng.Perm(nw) {
		if s.byzW+weights[i] <= limit && rng.IntN(2) == 0 {
			byz[i] = true
			s.byzW += weights[i]
		}
	}
	for i := range nw + 1 {
		n := &simNode{}
		if i < nw {
			n.keys, n.byz = s.w.witnesses[i], byz[i]
		}
		if !n.byz {
			db, err := h.fresh(ctx, i)
			if err != nil {
				return err
			}
			n.db = db
			if err := s.start(n); err != nil {
				return err
			}
		}
		n.up = true
		s.nodes = append(s.nodes, n)
	}
	for i, k := range s.w.wallets {
		s.wallets = append(s.wallets, &simWallet{keys: k, byz: i == 0 && rng.IntN(2) == 0, forgetful: i == 1 && rng.IntN(2) == 0})
	}
	s.wallets = append(s.wallets, &simWallet{}) // the issuer
	ends := len(s.nodes) + len(s.wallets)
	s.group = make([]int, ends)
	s.known = make([]map[[32]byte]bool, ends)
	for i := range s.known {
		s.known[i] = map[[32]byte]bool{}
	}
	for range 12 + rng.IntN(24) {
		if err := s.step(); err != nil {
			return err
		}
	}
	return s.finish()
}

// start opens node n's ledger (and witness) on its database, as a node
// does at boot.
func (s *simWorld) start(n *simNode) error {
	l, err := Open(s.ctx, n.db, s.w.com)
	if err != nil {
		return err
	}
	n.ledger = l
	if n.keys != nil {
		v, err := simValidator(s.ctx, n.db, l, issuancePolicy{max: 500})
		if err != nil {
			return err
		}
		if n.witness, err = NewWitness(l, n.keys, s.w.com, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *simWorld) walletEnd(i int) int   { return len(s.nodes) + i }
func (s *simWorld) isWallet(end int) bool { return end >= len(s.nodes) }

func (s *simWorld) send(m simMsg) {
	if len(s.queue) < 2000 {
		s.queue = append(s.queue, m)
	}
}

// step takes one random action.
func (s *simWorld) step() error {
	r := s.rng.IntN(100)
	switch {
	case r < 45 && len(s.queue) > 0:
		i := s.rng.IntN(len(s.queue))
		m := s.queue[i]
		if s.group[m.to] != s.group[m.from] {
			return nil // held by the partition
		}
		if s.rng.IntN(10) != 0 { // sometimes delivered twice
			s.queue = slices.Delete(s.queue, i, i+1)
		}
		return s.deliver(m)
	case r < 50 && len(s.queue) > 0:
		i := s.rng.IntN(len(s.queue))
		s.queue = slices.Delete(s.queue, i, i+1) // lost
	case r < 70:
		return s.walletAct(s.rng.IntN(len(s.wallets)))
	case r < 75:
		for i := range s.group {
			s.group[i] = s.rng.IntN(2)
		}
	case r < 80:
		clear(s.group)
	case r < 86:
		return s.crashOrRestart(s.rng.IntN(len(s.nodes)))
	default:
		return s.walletRetry(s.rng.IntN(len(s.wallets)))
	}
	return nil
}

func (s *simWorld) crashOrRestart(i int) error {
	n := s.nodes[i]
	if n.byz {
		return nil
	}
	if n.up {
		// A crash: the process dies; only the file remains.
		if err := n.db.Close(); err != nil {
			return err
		}
		n.up, n.ledger, n.witness = false, nil, nil
		s.h.stats.crashes++
		return nil
	}
	db, err := sqlitedb.Open(s.ctx, s.h.path(i))
	if err != nil {
		return err
	}
	s.h.dbs[i], n.db, n.up = db, db, true
	return s.start(n)
}

// model returns what endpoint end knows: the balances and last nonces of
// the certificates it has seen, applied by modelApply.
func (s *simWorld) model(end int) (map[string]int64, map[string]uint64) {
	var cs []Certificate
	for h := range s.known[end] {
		cs = append(cs, s.certs[h])
	}
	return modelApply(s.w.com, cs)
}

// modelApply is the reference the ledger is compared with: the fixpoint of
// applying certificates whose source's previous nonce is applied and
// whose source can pay.
func modelApply(com Committee, cs []Certificate) (map[string]int64, map[string]uint64) {
	bal := map[string]int64{}
	for a, v := range com.Genesis {
		bal[a] = v
	}
	last := map[string]uint64{}
	done := make([]bool, len(cs))
	for progress := true; progress; {
		progress = false
		for i, c := range cs {
			t := c.Tx
			if done[i] || t.Nonce != last[t.Src]+1 || (t.Src != System && bal[t.Src] < t.Amount+t.Fee) {
				continue
			}
			if t.Src != System {
				bal[t.Src] -= t.Amount + t.Fee
				bal[System] += t.Fee
			}
			bal[t.Dst] += t.Amount
			last[t.Src] = t.Nonce
			done[i], progress = true, true
		}
	}
	return bal, last
}

// walletAct starts a transaction if the wallet has none pending, or (a
// Byzantine wallet, in a recovering schedule) asks for recovery.
func (s *simWorld) walletAct(wi int) error {
	w := s.wallets[wi]
	end := s.walletEnd(wi)
	if len(w.pending) > 0 {
		if w.byz && s.recover && len(w.pending) == 2 {
			w.recovery = true
			for i := range s.w.witnesses {
				s.send(simMsg{to: i, from: end, kind: "report-req", tx: w.pending[0], b: w.pending[1]})
			}
		}
		return nil
	}
	bal, last := s.model(end)
	src := w.account()
	t := Tx{Cluster: s.w.com.Cluster, Epoch: s.w.com.Epoch, Src: src, Nonce: last[src] + 1, Kind: KindTransfer, Fee: s.w.com.Fee()}
	others := slices.DeleteFunc(slices.Clone(s.wallets[:len(s.wallets)-1]), func(o *simWallet) bool { return o == w })
	t.Dst = others[s.rng.IntN(len(others))].account()
	if w.keys == nil {
		t.Kind, t.Fee = KindIssuance, 0
		t.Amount = 1 + s.rng.Int64N(600) // above 500 the honest witnesses' policy refuses it
	} else {
		s.settleKind(w, &t)
		avail := bal[src] - t.Fee
		switch {
		case w.byz && s.rng.IntN(3) == 0:
			t.Amount = bal[src] + 1 + s.rng.Int64N(100) // overspend
		case avail < 1:
			return nil
		default:
			t.Amount = 1 + s.rng.Int64N(avail)
		}
	}
	var err error
	sign := func(t Tx) (Tx, error) {
		if w.keys == nil {
			return t, nil
		}
		return SignTx(t, w.keys)
	}
	a, err := sign(t)
	if err != nil {
		return err
	}
	w.pending = []Tx{a}
	w.votes = map[[32]byte]map[uint32]map[identity.NodeID]Vote{}
	w.reports = map[uint32]map[identity.NodeID]Report{}
	w.recovery = false
	targets := s.rng.Perm(len(s.w.witnesses))
	if w.byz && s.rng.IntN(2) == 0 {
		// Equivocate: a second transaction of the same nonce to some witnesses.
		t.Amount = max(1, t.Amount/2)
		t.Dst = others[s.rng.IntN(len(others))].account()
		b, err := sign(t)
		if err != nil {
			return err
		}
		if b.Hash() != a.Hash() {
			w.pending = append(w.pending, b)
		}
	}
	for _, p := range w.pending {
		s.txs[p.Hash()] = p
	}
	for k, i := range targets {
		s.send(simMsg{to: i, from: end, kind: "sign", tx: w.pending[k%len(w.pending)], credits: s.credits(end)})
	}
	return nil
}

// credits are the certificates a wallet attaches: those it has seen that
// pay it or come from it.
func (s *simWorld) credits(end int) []Certificate {
	acct := s.wallets[end-len(s.nodes)].account()
	hs := make([][32]byte, 0, len(s.known[end]))
	for h := range s.known[end] {
		if t := s.certs[h].Tx; t.Src == acct || t.Dst == acct {
			hs = append(hs, h)
		}
	}
	slices.SortFunc(hs, func(a, b [32]byte) int { return compareHash(a, b) })
	out := make([]Certificate, 0, len(hs))
	for _, h := range hs {
		out = append(out, s.certs[h])
	}
	return out
}

func compareHash(a, b [32]byte) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// walletRetry resends the pending transaction (the first one) to every
// witness, with credits.
func (s *simWorld) walletRetry(wi int) error {
	w := s.wallets[wi]
	if len(w.pending) == 0 {
		return nil
	}
	for i := range s.w.witnesses {
		s.send(simMsg{to: i, from: s.walletEnd(wi), kind: "sign", tx: w.pending[0], credits: s.credits(s.walletEnd(wi))})
	}
	return nil
}

func (s *simWorld) deliver(m simMsg) error {
	if s.isWallet(m.to) {
		return s.toWallet(m)
	}
	n := s.nodes[m.to]
	if !n.up {
		return nil // lost: the node is down
	}
	switch {
	case n.byz:
		return s.byzantine(m)
	case m.kind == "cert":
		s.known[m.to][m.cert.Tx.Hash()] = true
		if _, err := n.ledger.Apply(s.ctx, m.cert); err != nil {
			return fmt.Errorf("node %d: apply certificate: %w", m.to, err)
		}
	case m.kind == "sign":
		v, err := n.witness.Sign(s.ctx, m.tx, m.credits)
		if err != nil {
			if errors.Is(err, ErrWrongEpoch) || errors.Is(err, ErrInvalid) {
				return fmt.Errorf("node %d: sign: %w", m.to, err)
			}
			return nil // a refusal under the witness rule
		}
		s.allVotes = append(s.allVotes, v)
		s.send(simMsg{to: m.from, from: m.to, kind: "vote", vote: v, tx: m.tx})
	case m.kind == "report-req":
		r, err := n.witness.Report(s.ctx, m.tx, m.b)
		if err != nil {
			return fmt.Errorf("node %d: report: %w", m.to, err)
		}
		s.send(simMsg{to: m.from, from: m.to, kind: "report", report: r, tx: m.tx, b: m.b})
	case m.kind == "advance":
		if err := n.witness.Advance(s.ctx, m.reports); err != nil {
			return fmt.Errorf("node %d: advance: %w", m.to, err)
		}
	}
	return nil
}

// byzantine answers as a Byzantine witness: it votes for anything in any
// round (or withholds), and reports a random lock.
func (s *simWorld) byzantine(m simMsg) error {
	k := s.nodes[m.to].keys
	if s.rng.IntN(4) == 0 {
		return nil // withholds
	}
	switch m.kind {
	case "sign":
		round := uint32(s.rng.IntN(3))
		s.send(simMsg{to: m.from, from: m.to, kind: "vote", vote: signVote(k, m.tx.Hash(), m.tx.Epoch, round), tx: m.tx})
	case "report-req":
		r := Report{Src: m.tx.Src, Nonce: m.tx.Nonce, Epoch: m.tx.Epoch, Round: uint32(s.rng.IntN(2)), Witness: k.ID()}
		switch s.rng.IntN(3) {
		case 0:
			r.Locked = m.tx.Hash()
		case 1:
			r.Locked = m.b.Hash()
		}
		r.Sig = k.Sign(ReportDomain, r.body())
		s.send(simMsg{to: m.from, from: m.to, kind: "report", report: r, tx: m.tx, b: m.b})
	}
	return nil
}

func (s *simWorld) toWallet(m simMsg) error {
	wi := m.to - len(s.nodes)
	w := s.wallets[wi]
	switch m.kind {
	case "cert":
		s.known[m.to][m.cert.Tx.Hash()] = true
		for _, p := range w.pending {
			if p.Hash() == m.cert.Tx.Hash() {
				w.pending = nil
			}
		}
	case "vote":
		if len(w.pending) == 0 || !slices.ContainsFunc(w.pending, func(t Tx) bool { return t.Hash() == m.vote.Tx }) {
			return nil
		}
		if err := m.vote.Verify(); err != nil {
			return err
		}
		byRound := w.votes[m.vote.Tx]
		if byRound == nil {
			byRound = map[uint32]map[identity.NodeID]Vote{}
			w.votes[m.vote.Tx] = byRound
		}
		if byRound[m.vote.Round] == nil {
			byRound[m.vote.Round] = map[identity.NodeID]Vote{}
		}
		byRound[m.vote.Round][m.vote.Witness] = m.vote
		var votes []Vote
		var weight uint64
		for _, v := range byRound[m.vote.Round] {
			votes = append(votes, v)
			weight += s.w.com.Weights[v.Witness]
		}
		c := Certificate{Tx: m.tx, Votes: sortedVotes(votes)}
		if s.w.com.Quorum(weight) && c.Verify(s.w.com) == nil {
			s.h.stats.final++
			h := c.Tx.Hash()
			s.certs[h] = c
			s.known[m.to][h] = true
			w.pending = nil
			for end := range s.known {
				if end != m.to {
					s.send(simMsg{to: end, from: m.to, kind: "cert", cert: c})
				}
			}
		}
	case "report":
		if !w.recovery || len(w.pending) < 2 || m.report.Nonce != w.pending[0].Nonce || m.report.Src != w.account() {
			return nil
		}
		if w.reports[m.report.Round] == nil {
			w.reports[m.report.Round] = map[identity.NodeID]Report{}
		}
		w.reports[m.report.Round][m.report.Witness] = m.report
		var rs []Report
		for _, r := range w.reports[m.report.Round] {
			rs = append(rs, r)
		}
		slices.SortFunc(rs, func(a, b Report) int {
			return compareHash([32]byte(keyBytes(a.Witness)), [32]byte(keyBytes(b.Witness)))
		})
		if CheckRelease(s.w.com, rs) == nil {
			s.h.stats.recoveries++
			w.recovery = false
			w.reports = map[uint32]map[identity.NodeID]Report{}
			// The next round gets one of the two, either.
			w.pending = []Tx{w.pending[s.rng.IntN(2)]}
			for i := range s.w.witnesses {
				s.send(simMsg{to: i, from: m.to, kind: "advance", reports: rs})
			}
			for i := range s.w.witnesses {
				s.send(simMsg{to: i, from: m.to, kind: "sign", tx: w.pending[0], credits: s.credits(m.to)})
			}
		}
	}
	return nil
}

// finish heals the network, restarts every node, delivers everything,
// lets honest wallets retry, spreads every certificate to every node, and
// checks the invariants.
func (s *simWorld) finish() error {
	clear(s.group)
	for i, n := range s.nodes {
		if !n.up {
			if err := s.crashOrRestart(i); err != nil {
				return err
			}
		}
	}
	for round := range 4 {
		for len(s.queue) > 0 {
			m := s.queue[0]
			s.queue = s.queue[1:]
			if err := s.deliver(m); err != nil {
				return err
			}
		}
		if round < 3 {
			for wi, w := range s.wallets {
				var err error
				switch {
				case len(w.pending) == 0:
				case !w.byz:
					err = s.walletRetry(wi)
				case round == 0:
					err = s.walletAct(wi) // asks for recovery if it equivocated
				}
				if err != nil {
					return err
				}
			}
		}
	}
	if err := s.checkNoConflict(); err != nil {
		return err
	}
	var all []Certificate
	for _, c := range s.certs {
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b Certificate) int { return compareHash(a.Tx.Hash(), b.Tx.Hash()) })
	want, _ := modelApply(s.w.com, all)
	var issued int64
	for _, c := range all {
		if c.Tx.Kind == KindIssuance {
			issued += c.Tx.Amount
		}
	}
	for i, n := range s.nodes {
		if n.byz {
			continue
		}
		// Anti-entropy: every certificate, in an order of its own.
		order := slices.Clone(all)
		s.rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		if _, err := n.ledger.ApplyAll(s.ctx, order); err != nil {
			return fmt.Errorf("node %d: anti-entropy: %w", i, err)
		}
		if err := checkLedger(s.ctx, n.ledger, s.w.com, want, issued); err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		for _, c := range all {
			if st, err := n.ledger.Status(s.ctx, c.Tx.Hash()); err != nil || st != StatusApplied {
				return fmt.Errorf("node %d: final transaction %x (%s nonce %d) not applied: status %v, %v", i, c.Tx.Hash(), c.Tx.Src, c.Tx.Nonce, st, err)
			}
		}
		for _, inv := range simInvariants {
			if err := inv(s.ctx, n.ledger); err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
		}
	}
	for wi, w := range s.wallets {
		if !w.byz && !w.forgetful && len(w.pending) > 0 && (w.keys != nil || w.pending[0].Amount <= 500) {
			return fmt.Errorf("honest wallet %d: transaction %x (nonce %d) not final after healing", wi, w.pending[0].Hash(), w.pending[0].Nonce)
		}
	}
	return nil
}

// checkNoConflict: from all the votes honest witnesses ever signed plus
// every Byzantine witness voting for everything in every round, no (src,
// nonce) may have two transactions that reach more than 2/3.
func (s *simWorld) checkNoConflict() error {
	type slot struct {
		src   string
		nonce uint64
	}
	type key struct {
		h     [32]byte
		round uint32
	}
	txs := map[[32]byte]slot{}
	for h, t := range s.txs {
		txs[h] = slot{t.Src, t.Nonce}
	}
	weight := map[key]uint64{}
	voted := map[key]map[identity.NodeID]bool{}
	for _, v := range s.allVotes {
		k := key{v.Tx, v.Round}
		if voted[k] == nil {
			voted[k] = map[identity.NodeID]bool{}
		}
		if !voted[k][v.Witness] {
			voted[k][v.Witness] = true
			weight[k] += s.w.com.Weights[v.Witness]
		}
	}
	final := map[slot][32]byte{}
	for k, w := range weight {
		sl, ok := txs[k.h]
		if !ok || !s.w.com.Quorum(w+s.byzW) {
			continue
		}
		if prev, ok := final[sl]; ok && prev != k.h {
			return fmt.Errorf("two transactions of %s nonce %d could both be final: %x and %x", sl.src, sl.nonce, prev[:8], k.h[:8])
		}
		final[sl] = k.h
	}
	return nil
}

// checkLedger checks one ledger after anti-entropy.
func checkLedger(ctx context.Context, l *Ledger, com Committee, want map[string]int64, issued int64) error {
	got, err := l.Balances(ctx)
	if err != nil {
		return err
	}
	again, err := l.Recompute(ctx, com)
	if err != nil {
		return err
	}
	genesis, iss, err := l.Supply(ctx)
	if err != nil {
		return err
	}
	var sum int64
	for a, v := range got {
		if v < 0 {
			return fmt.Errorf("negative balance %d of %s", v, a)
		}
		sum += v
	}
	if sum != genesis+iss || genesis != com.GenesisSupply() || iss != issued {
		return fmt.Errorf("supply %d, want genesis %d + issued %d (ledger says %d + %d)", sum, com.GenesisSupply(), issued, genesis, iss)
	}
	for _, m := range []map[string]int64{again, want} {
		for a := range mergeKeys(got, m) {
			if got[a] != m[a] {
				return fmt.Errorf("balance of %s is %d, recomputed %d, model %d", a, got[a], again[a], want[a])
			}
		}
	}
	return nil
}

func mergeKeys(a, b map[string]int64) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
