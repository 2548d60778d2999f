# The thin front door of the project; longer recipes live in scripts/.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: run test build cross bench lint porcelain clean

## run: build, then serve the simulated transducers with the demo users on http://127.0.0.1:8000
run: build
	./bin/maskserviced serve --data ./var --listen 127.0.0.1:8000 --demo

## test: every test (unit and integration, with the race detector)
test:
	$(GO) test -race -shuffle=on -count=1 -timeout 10m ./...

## build: the daemon (UI embedded) and the transducer tools in bin/
build:
	$(BUILD) -o bin/maskserviced ./cmd/maskserviced
	$(BUILD) -o bin/transducer-sim ./cmd/transducer-sim

## cross: static linux/arm64 and linux/arm (GOARM=7) binaries with their sha256 sums
cross:
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
	rm -rf bin
