package compute

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"github.com/zeebo/blake3"
)

// Errors of a run. Every one but ErrInvalidModule, ErrModuleTooLarge,
// ErrInputTooLarge and ErrBusy comes with a Result: the module ran and used
// resources, and a receipt for them can be made.
var (
	ErrInvalidModule  = errors.New("not a valid WASI module")
	ErrModuleTooLarge = errors.New("module too large")
	ErrInputTooLarge  = errors.New("input too large")
	ErrTimeout        = errors.New("wall-time limit reached")
	ErrMemoryLimit    = errors.New("memory limit reached")
	ErrOutputLimit    = errors.New("output limit reached")
	ErrTrap           = errors.New("module trapped or exited with an error")
	ErrBusy           = errors.New("too many runs at once")
)

// PageBytes is the size of a WebAssembly memory page.
const PageBytes = 65536

// stderrKeep is how much of a module's standard error a Result keeps: enough
// for a panic message, never a flood.
const stderrKeep = 4096

// memorySlack is how close to its memory limit a failed run must have grown
// to count as stopped by the limit. Go's runtime grows its heap by whole
// 4 MiB arenas, so the grow that failed may have asked for up to that much
// more than the memory the module had.
const memorySlack = 8 << 20

// Config bounds what a module may use.
type Config struct {
	// MaxModuleBytes is the largest module accepted.
	MaxModuleBytes int64
	// MaxInputBytes is the largest standard input accepted.
	MaxInputBytes int64
	// MaxOutputBytes is the most a module may write to standard output; one
	// byte more fails the run with ErrOutputLimit.
	MaxOutputBytes int64
	// MemoryLimitPages caps each module's linear memory (64 KiB pages).
	MemoryLimitPages uint32
	// Timeout is the wall time of a run when the caller gives none, and the
	// most a caller may give.
	Timeout time.Duration
	// MaxConcurrent runs at once; one more is refused with ErrBusy.
	MaxConcurrent int
	// CacheEntries is how many compiled modules are kept.
	CacheEntries int
	// Shared, if set, is a wazero compilation cache shared by engines in one
	// process (nodes of a demo or a test), so that a module is compiled to
	// machine code once for all of them. Nil: each engine compiles alone.
	Shared wazero.CompilationCache
	// Interpreter runs modules with wazero's interpreter instead of its
	// compiler: it starts a module at once but runs it several times
	// slower. The race detector's tests use it (compiling a Go module
	// under -race takes half a minute); 32-bit ARM gets it regardless.
	Interpreter bool
}

// DefaultConfig is sized for a Raspberry Pi host: Go programs compiled to
// WASI are 2-3 MB, and their runtime needs tens of MiB of memory.
func DefaultConfig() Config {
	return Config{
		MaxModuleBytes:   16 << 20,
		MaxInputBytes:    16 << 20,
		MaxOutputBytes:   16 << 20,
		MemoryLimitPages: 2048, // 128 MiB
		Timeout:          60 * time.Second,
		MaxConcurrent:    2,
		CacheEntries:     16,
	}
}

func (c Config) validate() error {
	switch {
	case c.MaxModuleBytes <= 0, c.MaxInputBytes <= 0, c.MaxOutputBytes <= 0:
		return fmt.Errorf("compute: module, input and output limits must be positive")
	case c.MemoryLimitPages == 0 || c.MemoryLimitPages > 65536:
		return fmt.Errorf("compute: memory limit %d pages out of range 1-65536", c.MemoryLimitPages)
	case c.Timeout <= 0:
		return fmt.Errorf("compute: timeout must be positive")
	case c.MaxConcurrent <= 0:
		return fmt.Errorf("compute: concurrency must be positive")
	case c.CacheEntries <= 0:
		return fmt.Errorf("compute: cache entries must be positive")
	}
	return nil
}

// Hash is the BLAKE3 of a module or an output.
type Hash [32]byte

// Sum returns the BLAKE3 of b.
func Sum(b []byte) Hash { return Hash(blake3.Sum256(b)) }

// Result is what a run measured. It is returned with limit errors too.
type Result struct {
	ModuleHash Hash
	// Cached is true when the module was compiled by an earlier run.
	Cached bool
	// Wall is the measured wall time of the run (instantiation and execution).
	Wall time.Duration
	// MemoryBytes is the linear memory the module had at its end (memory
	// only grows, so this is its peak).
	MemoryBytes uint64
	// OutputBytes written to standard output, at most MaxOutputBytes.
	OutputBytes int64
	// OutputHash is the BLAKE3 of the output bytes written.
	OutputHash Hash
	// ExitCode is the module's exit status (0 on success).
	ExitCode uint32
	// Stderr is the start of the module's standard error.
	Stderr string
}

// Engine runs WASI modules under limits. It starts no goroutine of its own;
// wazero watches each run's context while it runs.
type Engine struct {
	cfg   Config
	rt    wazero.Runtime
	slots chan struct{}

	mu    sync.Mutex
	cache map[Hash]*list.Element
	lru   *list.List // of *cached, most recent first
	// compiling holds the compiles under way, so that jobs of one module
	// arriving together wait for one compile instead of each starting its
	// own (a Go module takes seconds to compile on a small board).
	compiling map[Hash]*compile
}

// compile is one compile under way; done is closed when mod or err is set.
type compile struct {
	done chan struct{}
	mod  wazero.CompiledModule
	err  error
}

type cached struct {
	hash Hash
	mod  wazero.CompiledModule
}

// New makes an engine: a wazero runtime with memory limits and
// close-on-context-done, and WASI preview 1 (no filesystem, no network:
// wazero grants neither unless configured to).
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfig()
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	rc = rc.
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithCloseOnContextDone(true)
	if cfg.Shared != nil {
		rc = rc.WithCompilationCache(cfg.Shared)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("compute: WASI: %w", err)
	}
	return &Engine{
		cfg:       cfg,
		rt:        rt,
		slots:     make(chan struct{}, cfg.MaxConcurrent),
		cache:     make(map[Hash]*list.Element),
		lru:       list.New(),
		compiling: make(map[Hash]*compile),
	}, nil
}

// Config returns the engine's limits.
func (e *Engine) Config() Config { return e.cfg }

// Close releases the runtime and every compiled module.
func (e *Engine) Close(ctx context.Context) error {
	return e.rt.Close(ctx)
}

// CheckHeader checks a module's size and WebAssembly magic number, without
// compiling it: what a host checks before accepting a job (compiling takes
// seconds on a small board; the run compiles).
func (e *Engine) CheckHeader(module []byte) error {
	if int64(len(module)) > e.cfg.MaxModuleBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrModuleTooLarge, len(module), e.cfg.MaxModuleBytes)
	}
	if !bytes.HasPrefix(module, []byte("\x00asm")) {
		return fmt.Errorf("%w: no WebAssembly header", ErrInvalidModule)
	}
	return nil
}

// CheckModule validates a module's size and that it is a WASI command,
// compiling it (into the cache) without running it: what a broker checks
// before recording a job.
func (e *Engine) CheckModule(ctx context.Context, module []byte) (Hash, error) {
	_, h, _, err := e.compiled(ctx, module)
	return h, err
}

// compiled returns the module compiled, from the cache when it is there,
// or from a compile of it already under way.
func (e *Engine) compiled(ctx context.Context, module []byte) (wazero.CompiledModule, Hash, bool, error) {
	if int64(len(module)) > e.cfg.MaxModuleBytes {
		return nil, Hash{}, false, fmt.Errorf("%w: %d bytes, limit %d", ErrModuleTooLarge, len(module), e.cfg.MaxModuleBytes)
	}
	h := Sum(module)
	// The magic number is checked here so that any non-WASM body gets the
	// same clear error, whatever wazero's decoder would say of it.
	if !bytes.HasPrefix(module, []byte("\x00asm")) {
		return nil, h, false, fmt.Errorf("%w: no WebAssembly header", ErrInvalidModule)
	}
	e.mu.Lock()
	if el, ok := e.cache[h]; ok {
		e.lru.MoveToFront(el)
		e.mu.Unlock()
		return el.Value.(*cached).mod, h, true, nil
	}
	if c, ok := e.compiling[h]; ok {
		e.mu.Unlock()
		select {
		case <-c.done:
			return c.mod, h, c.err == nil, c.err
		case <-ctx.Done():
			return nil, h, false, ctx.Err()
		}
	}
	c := &compile{done: make(chan struct{})}
	e.compiling[h] = c
	e.mu.Unlock()

	// The compile is not cut short by this caller's context: others may be
	// waiting for it, and its result goes into the cache.
	c.mod, c.err = e.compile(context.WithoutCancel(ctx), module)
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.compiling, h)
	close(c.done)
	if c.err != nil {
		return nil, h, false, c.err
	}
	e.cache[h] = e.lru.PushFront(&cached{hash: h, mod: c.mod})
	for e.lru.Len() > e.cfg.CacheEntries {
		old := e.lru.Remove(e.lru.Back()).(*cached)
		delete(e.cache, old.hash)
		// wazero allows closing a compiled module while instances of it run.
		_ = old.mod.Close(ctx)
	}
	return c.mod, h, false, nil
}

// compile compiles a module and checks that it is a WASI command.
func (e *Engine) compile(ctx context.Context, module []byte) (wazero.CompiledModule, error) {
	mod, err := e.rt.CompileModule(ctx, module)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	if _, ok := mod.ExportedFunctions()["_start"]; !ok {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("%w: no _start export (not a WASI command)", ErrInvalidModule)
	}
	return mod, nil
}

// Options of one run.
type Options struct {
	// Timeout is the run's wall-time limit: 0 means the configured one; a
	// longer one is cut to it.
	Timeout time.Duration
	// InputRead, when set, counts the input bytes the module has read: the
	// run's progress, which a host reports to the broker.
	InputRead *atomic.Int64
	// Started, when set, is called once the module is compiled (or found in
	// the cache), just before it runs: the wall-time limit counts from here.
	Started func()
}

// Run runs module with input on standard input, writing standard output to
// out. At most MaxConcurrent runs go at once; one more returns ErrBusy at
// once.
func (e *Engine) Run(ctx context.Context, module, input []byte, out io.Writer, opt Options) (Result, error) {
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	default:
		return Result{}, ErrBusy
	}
	if int64(len(input)) > e.cfg.MaxInputBytes {
		return Result{}, fmt.Errorf("%w: %d bytes, limit %d", ErrInputTooLarge, len(input), e.cfg.MaxInputBytes)
	}
	timeout := opt.Timeout
	if timeout <= 0 || timeout > e.cfg.Timeout {
		timeout = e.cfg.Timeout
	}
	mod, h, wasCached, err := e.compiled(ctx, module)
	if err != nil {
		return Result{}, err
	}
	res := Result{ModuleHash: h, Cached: wasCached}
	if opt.Started != nil {
		opt.Started()
	}

	// The limit and the measured wall time start at the same instant, so a
	// run stopped by the limit never reports less wall time than the limit.
	start := time.Now()
	runCtx, cancel := context.WithDeadline(ctx, start.Add(timeout))
	defer cancel()
	stdout := &limitedWriter{w: out, limit: e.cfg.MaxOutputBytes, hash: blake3.New(), onLimit: cancel}
	stderr := &prefixWriter{keep: stderrKeep}
	// No FS and no sockets are configured: the module sees no files and no
	// network. Clocks and randomness keep wazero's deterministic defaults, so
	// that two hosts running the same job produce the same output.
	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs("job").
		WithStdin(&countingReader{r: bytes.NewReader(input), n: opt.InputRead}).
		WithStdout(stdout).
		WithStderr(stderr).
		WithStartFunctions()

	inst, err := e.rt.InstantiateModule(runCtx, mod, mc)
	if err == nil {
		_, err = inst.ExportedFunction("_start").Call(runCtx)
		if mem := inst.Memory(); mem != nil {
			res.MemoryBytes = uint64(mem.Size())
		}
		_ = inst.Close(ctx)
	}
	res.Wall = time.Since(start)
	res.OutputBytes = stdout.n
	copy(res.OutputHash[:], stdout.hash.Sum(nil))
	res.Stderr = stderr.buf.String()
	return res, e.classify(ctx, runCtx, err, stdout.over, &res)
}

// classify turns the end of a run into one of the package's errors.
func (e *Engine) classify(ctx, runCtx context.Context, err error, outputOver bool, res *Result) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		res.ExitCode = exit.ExitCode()
	}
	switch {
	case outputOver:
		return fmt.Errorf("%w: more than %d bytes", ErrOutputLimit, e.cfg.MaxOutputBytes)
	case err == nil, exit != nil && exit.ExitCode() == 0:
		res.ExitCode = 0
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("compute: run cancelled: %w", ctx.Err())
	case runCtx.Err() != nil:
		return fmt.Errorf("%w after %s", ErrTimeout, res.Wall.Round(time.Millisecond))
	case res.MemoryBytes+memorySlack >= uint64(e.cfg.MemoryLimitPages)*PageBytes:
		return fmt.Errorf("%w: %d bytes of %d", ErrMemoryLimit, res.MemoryBytes, uint64(e.cfg.MemoryLimitPages)*PageBytes)
	case exit != nil:
		return fmt.Errorf("%w: exit code %d: %s", ErrTrap, exit.ExitCode(), firstLine(res.Stderr))
	default:
		return fmt.Errorf("%w: %v", ErrTrap, err)
	}
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// limitedWriter passes at most limit bytes to w, hashing them; the first
// write past the limit fails and cancels the run, so a flooding module that
// ignores write errors is stopped rather than left to its timeout.
type limitedWriter struct {
	w       io.Writer
	limit   int64
	n       int64
	hash    *blake3.Hasher
	over    bool
	onLimit func()
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.over {
		return 0, ErrOutputLimit
	}
	if room := l.limit - l.n; int64(len(p)) > room {
		l.over = true
		l.onLimit()
		p = p[:room]
		n, _ := l.write(p)
		return n, ErrOutputLimit
	}
	return l.write(p)
}

func (l *limitedWriter) write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	l.n += int64(n)
	_, _ = l.hash.Write(p[:n])
	return n, err
}

// countingReader counts the bytes read into n (when set).
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n != nil {
		c.n.Add(int64(k))
	}
	return k, err
}

// prefixWriter keeps the first keep bytes written and drops the rest.
type prefixWriter struct {
	buf  bytes.Buffer
	keep int
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if room := p.keep - p.buf.Len(); room > 0 {
		p.buf.Write(b[:min(room, len(b))])
	}
	return len(b), nil
}
