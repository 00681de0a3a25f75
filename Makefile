# appcred — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin/appcred
# The interop tests drive Debian's system python3 (which sees python3-msal and python3-azure).
export APPCRED_PYTHON ?= /usr/bin/python3

.PHONY: all build demo test deps vet fmt-check cross bench fuzz clean

all: build

# -buildvcs=false: the build must not depend on git being present or owning the checkout.
build:
	$(GO) build -buildvcs=false -o $(BIN) ./cmd/appcred

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

## cross: the whole module builds for Windows and macOS too.
cross:
	GOOS=windows $(GO) build ./...
	GOOS=darwin $(GO) build ./...

## test: everything — formatting, vet, the Windows and macOS builds, and all tests under the race detector (interop included).
test: deps fmt-check vet cross
	CGO_ENABLED=1 $(GO) test -race -timeout 30m -count=1 ./...

## bench: the benchmarks quoted in the closing notes (appcred vs MSAL Go vs azidentity).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
