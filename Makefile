# The thin front door of the project; longer recipes live in scripts/.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: run test test-go test-ui build ui cross bench lint porcelain clean

UI := web/ui

## run: build, then serve the simulated transducers with the demo users on http://127.0.0.1:8000
run: build
	./bin/maskserviced serve --data ./var --listen 127.0.0.1:8000 --demo

## test: every test: Go unit and integration (race detector), UI unit tests (Vitest), and the
## browser end-to-end test of the built daemon in Debian's chromium (playwright-core)
test: build test-go test-ui

test-go: build
	$(GO) test -race -shuffle=on -count=1 -timeout 10m ./...

test-ui: build
	cd $(UI) && npx vitest run
	node $(UI)/e2e/run.mjs --daemon bin/maskserviced

## build: the UI (npm ci when the lock file changed, then the Vite build), then the daemon
## with the UI embedded and the transducer tools, in bin/
build: ui
	$(BUILD) -o bin/maskserviced ./cmd/maskserviced
	$(BUILD) -o bin/transducer-sim ./cmd/transducer-sim

## ui: the Vite build of the operator UI into web/ui/dist (embedded by the next go build)
ui: $(UI)/node_modules/.package-lock.json
	cd $(UI) && npm run build

# npm ci only when the lock file changed: it starts from an empty node_modules every time.
$(UI)/node_modules/.package-lock.json: $(UI)/package.json $(UI)/package-lock.json
	cd $(UI) && npm ci --no-audit --no-fund

## cross: static linux/arm64 and linux/arm (GOARM=7) binaries with their sha256 sums
cross: ui
	GOOS=linux GOARCH=arm64 $(BUILD) -o bin/maskserviced-linux-arm64 ./cmd/maskserviced
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o bin/maskserviced-linux-armv7 ./cmd/maskserviced
	cd bin && sha256sum maskserviced-linux-arm64 maskserviced-linux-armv7 | tee SHA256SUMS

## bench: Go micro-benchmarks and the loopback load test; prints the figures
bench: build
	scripts/bench.sh

## lint: gofmt, go vet (amd64 and arm), staticcheck and the package layering rules
lint:
	scripts/lint.sh

## porcelain: gofmt and go mod tidy leave the tree unchanged
porcelain:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	$(GO) mod tidy -diff

clean:
	rm -rf bin $(UI)/node_modules $(UI)/test-output
	find $(UI)/dist -mindepth 1 ! -name .gitkeep -delete
