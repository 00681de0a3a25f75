# appcred — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin/appcred
# The interop tests drive Debian's system python3 (which sees python3-msal and python3-azure).
export APPCRED_PYTHON ?= /usr/bin/python3

# Tests that drive other libraries (MSAL Go, azidentity) live in nested modules, so the library's own module graph
# holds only what the library uses; make test runs them too.
PEERS   := interop bench azadapt

.PHONY: all build demo test deps vet fmt-check cross modgraph bench fuzz clean

all: build

# -buildvcs=false: the build must not depend on git being present or owning the checkout. CGO_ENABLED=0: a static
# binary starts with no dynamic loader or libc set-up (about 20% less CPU for a short run such as a cached `token`).
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=false -o $(BIN) ./cmd/appcred

## demo: start the embedded local authority and get tokens through the library (no account, no network).
demo: build
	./$(BIN) demo

## deps: install the Debian packages the tests use when they are missing.
deps:
	bash scripts/deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	for m in $(PEERS); do (cd $$m && $(GO) vet ./...) || exit 1; done

## cross: the library and the CLI build on Windows and macOS too.
cross:
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...

## modgraph: the library's module requires no test-only peer (MSAL Go, azidentity), no package of its tests
## imports one, and no library package imports a test-only dependency (the OpenTelemetry SDK, chromedp).
modgraph:
	@bad=$$($(GO) mod graph | awk '$$1 == "github.com/appcred/appcred" {print $$2}' | grep -E 'microsoft-authentication-library-for-go|sdk/azidentity' || true); \
	if [ -n "$$bad" ]; then echo "go.mod requires test-only peers: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps -test ./... | grep -E 'microsoft-authentication-library-for-go|sdk/azidentity' || true); \
	if [ -n "$$bad" ]; then echo "packages of the root module import test-only peers: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./... | grep -E 'go.opentelemetry.io/otel/sdk|chromedp' || true); \
	if [ -n "$$bad" ]; then echo "library code imports test-only packages: $$bad"; exit 1; fi

## test: everything — formatting, vet, the Windows and macOS builds, the module graph, and all tests under the race
## detector (interop and bench included).
test: deps fmt-check vet cross modgraph
	CGO_ENABLED=1 $(GO) test -race -timeout 30m -count=1 ./...
	for m in $(PEERS); do (cd $$m && CGO_ENABLED=1 $(GO) test -race -timeout 30m -count=1 ./...) || exit 1; done

## bench: the benchmarks quoted in the closing notes (appcred vs MSAL Go vs azidentity).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	cd bench && $(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin

## bench-chart: run the cache-hit and herd benchmarks once (about 3 minutes on 2 cores) and draw the README's
## pictures, docs/bench-hit.svg and docs/bench-herd.svg, with their caption docs/bench-caption.md (command,
## machine, date); the raw output is kept in docs/bench-chart.txt.
BENCH_CHART_FLAGS := -run '^$$' -bench '^(BenchmarkCacheHit|BenchmarkHerd)$$' -benchtime=100ms -count=1
.PHONY: bench-chart
bench-chart:
	@echo "machine: $$($(GO) env GOOS)/$$($(GO) env GOARCH), $$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
	cd bench && $(GO) test $(BENCH_CHART_FLAGS) . | tee ../docs/bench-chart.txt
	cd bench && $(GO) run ./chart -in ../docs/bench-chart.txt -out ../docs -command 'make bench-chart'

## fuzz: run every fuzz target (any `func FuzzX` in a _test.go file of this module or the nested ones) for FUZZTIME
## each (FUZZTARGETS, a regexp over target names, picks some), FUZZJOBS at a time (each then with one worker), logs
## per target in $TMPDIR/appcred-fuzz (`make test` already runs every target's seed corpus).
## FUZZMINIMIZE bounds the minimisation of each new interesting input (Go's default, 60 s, stalls the targets whose
## seeds are whole files, such as FuzzDirectoryFile).
FUZZTIME ?= 10m
FUZZMINIMIZE ?= 5s
FUZZJOBS ?= 1
FUZZTARGETS ?= .
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZMINIMIZE=$(FUZZMINIMIZE) FUZZJOBS=$(FUZZJOBS) FUZZTARGETS='$(FUZZTARGETS)' bash scripts/fuzz.sh $(PEERS)

## load: drive the local authority on loopback for LOAD_SECONDS (60) with bounded load (cmd/appcred-load) and report
## tokens/s, p50/p99 latency and peak RSS; fails on any failed request or on RSS growing without bound.
LOAD_SECONDS ?= 60
.PHONY: load
load:
	$(GO) run ./cmd/appcred-load -seconds $(LOAD_SECONDS)
