// Package jobs is the node's part for WebAssembly jobs: it runs jobs as a
// host (package compute) and brokers jobs to hosts (package broker's rules),
// doing the I/O both need.
//
// # Host
//
// Quote answers a broker: the compute unit price (the announce's) times the
// job's timeout in seconds, since a wasm job's unit is one second of wall
// time and the quote covers the whole timeout; or a refusal with the reason
// (inactive, busy, a limit). Exec accepts a job from a member (node-signed)
// or the admin: at most Config.Concurrency jobs are held at once, more get
// ErrBusy (503 with Retry-After). Runs are kept per sender and job ID, so a
// retried dispatch never runs twice and a broker sees only its own. A run
// reports "started" once its module is compiled (compiling counts against
// t_activate, not the timeout) and its progress as the share of the input
// the module has read. At the end the host signs a compute receipt: units
// are the wall time in seconds (micro-units), metrics the wall time, memory,
// input and output sizes, and proofs "module:blake3:HEX" and
// "output:blake3:HEX" (or "error:KIND" when a limit stopped the run, which
// still gets a receipt for the resources used). The last KeepHosted
// finished runs keep their outputs for the broker to fetch.
//
// # Broker
//
// Submit checks the job (WASM header and compile, sizes, 1 <= r <= MaxR and
// r <= the hosts known, payment possible; with Hosts, r <= the named hosts
// known, matched by node ID or endpoint) and records it in SQLite with its
// module and input before answering, so a restart resumes it (Run queues
// every unfinished job again). A worker then asks every candidate (peers
// up, active, known by ID, and this node when active) for a quote at once
// within QuoteTimeout (only the job's Hosts, when it names some, in every
// round: failover and a resumed job stay within them), skips the silent, refusing and over-price ones, ranks
// the rest with broker.Rank, and dispatches to the best r. It polls each
// dispatch every PollInterval; one that breaks the SLA (not started within
// t_activate, stalled, past its timeout) is late and another host is asked.
// The votes go through broker.Decide; a disagreement asks one more host,
// within MaxRetries. A module failing the same way on the majority (e.g. a
// timeout) fails the job with that reason. On acceptance the output is
// fetched once from a majority host and checked against the agreed hash;
// the majority gets a hit, the minority and late or failed hosts a miss;
// each majority host is paid its quoted price through the Payer, and no
// other host is. A submit with a max price the Payer cannot cover for r
// hosts is refused (409); after the first quote round, a job whose first r
// hosts' quotes it cannot cover fails before any dispatch. A Payer saying
// ErrNoEconomy leaves the job unpaid ("unpaid: no economy" on the
// dispatch).
//
// # Test hooks
//
// Config.Hooks make a host lie (a wrong output and hash for every job),
// accept and never start, or hold each result before reporting it; tests
// use them to show that the broker outvotes and replaces such hosts. No flag of the node command sets them.
package jobs
