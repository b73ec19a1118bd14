// Package compute runs untrusted WebAssembly jobs on a host: WASI preview 1
// modules under github.com/tetratelabs/wazero, with the job's input on
// standard input and its result taken from standard output.
//
// # Sandbox
//
// A module gets no filesystem (no preopened directories) and no network
// (wazero grants neither unless configured to), the argument "job" and no
// environment. Clocks and the random source keep wazero's deterministic
// defaults, so that the same module and input give the same output on every
// host: the broker's result quorum compares output hashes.
//
// # Limits
//
//   - module size (ErrModuleTooLarge) and input size (ErrInputTooLarge),
//     checked before anything runs;
//   - linear memory, in 64 KiB pages for the whole runtime: a grow past it
//     fails inside the module, which then traps or exits; a failed run that
//     had grown to within 8 MiB of the limit is reported as ErrMemoryLimit
//     (Go's runtime grows by 4 MiB arenas, so its last, failed grow asked for
//     up to that much more);
//   - wall time: a context deadline, with wazero's close-on-context-done, so
//     even a loop with no calls is stopped (ErrTimeout);
//   - output: a writer that passes at most MaxOutputBytes and cancels the run
//     on the first byte more (ErrOutputLimit), so a module that ignores write
//     errors is stopped at once, not at its timeout;
//   - concurrency: at most MaxConcurrent runs; one more gets ErrBusy at once.
//
// A module that traps or exits non-zero gets ErrTrap. Every error of a run
// that started comes with its Result (wall time, memory, output size and
// BLAKE3), so the host can sign a receipt for the resources used.
//
// # Cache
//
// Compiled modules are kept by the BLAKE3 of their bytes, at most
// CacheEntries of them, least recently used dropped first; a repeated module
// skips compilation (Result.Cached).
package compute
