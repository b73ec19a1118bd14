# Offgrid-Net. `make run` starts a local demo mesh; `make test` installs what
# the tests need and runs all of them. See README.md.

GO        ?= go
BIN       := bin/offgrid
# The version offgrid version prints: git describe of the source (builds with -buildvcs=false record none).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -X main.buildVersion=$(VERSION)
PKGS      := ./...
# An execution count, not a duration: a duration races Go's fuzz coordinator
# (workers still running at the deadline fail with "context deadline exceeded"
# and no crasher, seen in CI under load). A count has no deadline to race.
# 20,000 keeps the 24 targets near a minute of make test (FUZZTIME=1000000x
# for a longer run of one: make fuzz FUZZ_TARGETS=./radio:FuzzDecodeFrame).
FUZZTIME  ?= 20000x
# Fuzz targets: package and function, one `go test -fuzz` call each.
FUZZ_TARGETS := \
	./cluster:FuzzParse \
	./economy:FuzzDecodeTx \
	./economy:FuzzDecodeCertificate \
	./economy:FuzzDecodeVote \
	./economy:FuzzDecodeReport \
	./ledger:FuzzDecodeReceipt \
	./ledger:FuzzDecodeBatch \
	./ledger:FuzzDecodeBlock \
	./ledger:FuzzStorageWindowOf \
	./economy:FuzzDecodeSettleMeta \
	./identity:FuzzParseRequestSignature \
	./internal/canon:FuzzLowerHex \
	./internal/canon:FuzzDecodeJSON \
	./identity:FuzzReplayRestore \
	./storage:FuzzParseECMeta \
	./storage:FuzzDecodePolicy \
	./storage:FuzzDecodeShare \
	./radio:FuzzDecodeFrame \
	./radio:FuzzDecodeLine \
	./radio/ble:FuzzHeard \
	./radio/meshhealth:FuzzParseBabelDump \
	./radio/meshhealth:FuzzParseBatctlNeighbors \
	./radio/meshhealth:FuzzParseBatctlNeighborsJSON \
	./broker:FuzzDecodeRepRecords \
	./node/jobs:FuzzSplitBody

export CGO_ENABLED ?= 0

.PHONY: all build run test check fmt vet staticcheck generate check-generated depcheck tidy-check \
	assets deps test-go test-sim fuzz test-browser cross bench soak release clean

all: build

## build: the offgrid binary (with the dashboard's vendored assets embedded)
build: assets
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/offgrid

## run: build and start a local demo mesh of 5 nodes; prints the dashboard URL and tokens
run: build
	./$(BIN) demo --nodes 5 --data ./demo-data

## assets: npm ci in web/ and copy htmx + its ws extension into web/assets/vendor (git-ignored, embedded)
assets:
	./web/fetch-assets.sh

## wasm: the WASI test modules (compute/testdata/modules, Go for GOOS=wasip1) into compute/testdata/wasm (git-ignored);
## tests build them on demand too (compute/computetest)
WASM_MODULES := wc checksum upper loop membomb flood trap
.PHONY: wasm
wasm:
	@mkdir -p compute/testdata/wasm
	@for m in $(WASM_MODULES); do \
		(cd compute/testdata/modules/$$m && GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o ../../wasm/$$m.wasm .) || exit 1; \
	done

## deps: what the tests need beyond Go: Debian's chromium (browser tests), babeld (real Babel routing in
## network namespaces), batctl (its error messages on a kernel without batman-adv) and dbus-daemon (a
## private bus for the Bluetooth tests' fake BlueZ)
deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v babeld >/dev/null 2>&1 || missing="$$missing babeld"; \
	command -v batctl >/dev/null 2>&1 || missing="$$missing batctl"; \
	command -v dbus-daemon >/dev/null 2>&1 || missing="$$missing dbus-daemon"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

## generate: regenerate api/gen (types, client) and api/genserver (chi server, spec) from openapi.yaml, and the templ components
generate:
	cd api/gen && $(GO) generate ./
	cd api/genserver && $(GO) generate ./
	$(GO) tool templ generate -path web

## check-generated: generated code must match its sources
check-generated: generate
	@git diff --exit-code -- api/gen api/genserver web/*_templ.go || { echo "generated code is stale: run 'make generate' and commit"; exit 1; }

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) tool staticcheck $(PKGS)

depcheck:
	$(GO) test -count=1 -run 'TestImportDirection|TestPackageDocs' ./internal/depcheck/

tidy-check:
	@cp go.mod /tmp/offgrid-go.mod.bak && cp go.sum /tmp/offgrid-go.sum.bak
	@$(GO) mod tidy && git diff --exit-code -- go.mod go.sum || { \
		cp /tmp/offgrid-go.mod.bak go.mod; cp /tmp/offgrid-go.sum.bak go.sum; \
		echo "go.mod/go.sum not tidy: run 'go mod tidy' and commit"; exit 1; }

## check: gofmt, go vet, staticcheck, generated-code freshness, import direction, go mod tidy
check: assets fmt vet staticcheck check-generated depcheck tidy-check

## test: everything: checks, race tests, short fuzz runs, browser tests, cross builds
test: deps check test-go test-sim fuzz test-browser cross

# -race implies -d=checkptr, which checks every unsafe.Pointer conversion; modernc.org/sqlite is C
# translated to Go and converts on nearly every line, so checkptr took a quarter of the CPU of a test
# mesh under the race detector. It is off for modernc.org only: the race detector still instruments
# every package, and checkptr still checks ours.
RACE      := -race -gcflags='modernc.org/...=-d=checkptr=0'

# cmd/offgrid's tests run meshes of up to 20 real nodes with timing bounds; under the race detector
# they share 2 cores badly with other packages' tests, so they run on their own, after the rest
# (their own deadline: go test's default 10 minutes is too close for them on a slow machine).
test-go: assets
	CGO_ENABLED=1 $(GO) test $(RACE) -count=1 $$($(GO) list $(PKGS) | grep -v '/cmd/offgrid$$')
	CGO_ENABLED=1 $(GO) test $(RACE) -count=1 -timeout 25m ./cmd/offgrid/

## test-sim: the economy's randomized simulation, 10,000 schedules, without the race detector
## (test-go runs 100 of them under it). A failing seed replays with -seed=N.
test-sim:
	$(GO) test -count=1 -v -timeout 30m -run '^TestSimulation$$' ./economy/

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) -timeout=5m $$pkg || exit 1; \
	done

## test-browser: Playwright (playwright-core + Debian chromium) against a real node
test-browser: deps assets
	OFFGRID_BROWSER_TESTS=1 $(GO) test -count=1 -run 'TestBrowser' -v ./cmd/offgrid/

## bench: benchmarks with their same-run baselines (under 10 minutes on 2 cores): one summary table
## (figure, baseline, ratio; see README "Benchmarks") and $(BENCH_OUT) for benchstat. Packages run one
## at a time, each within a deadline (scripts/bench.sh), and a failure, a timeout or a benchmark without
## a result fails the target, saying which. In ./cmd/offgrid/ the storage stages run 2 s each and the
## 256 MiB put+get once (one iteration outlasts 2 s), in one process so they share a baseline.
BENCH_OUT ?= bench/results.txt
bench: assets
	GO=$(GO) ./scripts/bench.sh | $(GO) run ./scripts/benchsum -o $(BENCH_OUT)

## bench-peer: the side-by-side with IPFS kubo v0.43.1 (built once into ~/.cache/offgrid/kubo from
## the Go module proxy): 256 MiB, ipfs add (flatfs sync) vs put on 20 node processes (12/20), ipfs cat
## cold and warm (to a file, fsync'd) vs get, medians of 3 (heavy, not in test)
.PHONY: bench-peer
bench-peer: build
	NO_BUILD=1 BIN=$(BIN) ./scripts/bench-peer.sh

## soak: 2,000 concurrent clients for 20 s against one node; no 5xx but 503 with Retry-After, and file
## handles (/proc/self/fd) and heap back at their idle level afterwards; 1,000 concurrent transfers on
## 7 nodes with 4 witnesses, all final, balances agreeing; then 1,000,000 schedules of the economy's
## simulation (hours; heavy, not in test)
soak: assets
	OFFGRID_SOAK=20s $(GO) test -count=1 -v -timeout 5m -run '^TestSoak$$' ./server/
	OFFGRID_TRANSFERS=1000 $(GO) test -count=1 -v -timeout 10m -run '^TestConcurrentTransfersBecomeFinal$$' ./cmd/offgrid/
	OFFGRID_JOBS=100 $(GO) test -count=1 -v -timeout 10m -run '^TestJobsHostKilledMidway$$' ./server/
	OFFGRID_SIM_SCHEDULES=1000000 $(GO) test -count=1 -v -timeout 0 -run '^TestSimulation$$' ./economy/

## memcheck: peak RSS of a 1 GiB put and get on 20 node processes (limit 150 MiB; heavy, not in test)
.PHONY: memcheck
memcheck: build
	NO_BUILD=1 BIN=$(BIN) ./scripts/memcheck.sh

## cross: make test's check that the Raspberry Pi builds compile: every package of the binary, with its
## dependencies, type-checked from source for 64-bit and 32-bit ARM (scripts/typecheck: build constraints,
## int and pointer sizes, unused names, all as the compiler's front end checks them), about 12 s each. A real
## cross build generates code too and takes about 100 s each from a cold cache on 2 cores (modernc.org/sqlite
## is generated per architecture); `make release` builds all four.
cross: assets
	$(GO) run ./scripts/typecheck -target linux/arm64 ./cmd/offgrid
	$(GO) run ./scripts/typecheck -target linux/arm ./cmd/offgrid

## release: static binaries for a PC and Raspberry Pis
release: assets
	GOOS=linux GOARCH=amd64 $(GO) build -ldflags '$(LDFLAGS)' -o bin/offgrid-linux-amd64 ./cmd/offgrid
	GOOS=linux GOARCH=arm64 $(GO) build -ldflags '$(LDFLAGS)' -o bin/offgrid-linux-arm64 ./cmd/offgrid
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build -ldflags '$(LDFLAGS)' -o bin/offgrid-linux-armv7 ./cmd/offgrid
	GOOS=linux GOARCH=arm GOARM=6 $(GO) build -ldflags '$(LDFLAGS)' -o bin/offgrid-linux-armv6 ./cmd/offgrid

clean:
	rm -rf bin
