# hping3-plugin: build, run and test.
GO      ?= go
BIN     ?= ./hping3-plugin
TESTFLAGS ?=

.PHONY: all build run deps test lint bench bench-go clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hping3-plugin

# deps installs hping3 when it is missing (Debian/Ubuntu, needs root).
deps:
	@if ! command -v hping3 >/dev/null 2>&1 && [ ! -x /usr/sbin/hping3 ]; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "hping3 is missing: run 'sudo apt-get install -y hping3' (or make run as root)"; exit 1; \
		fi; \
		echo "installing hping3 with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hping3; \
	fi

# run probes 127.0.0.1 once over ICMP and TCP (port 22, open or closed) and
# prints the line-protocol lines. Raw sockets need root or CAP_NET_RAW.
run: deps build
	$(BIN) --once --target 127.0.0.1 --count 3 --interval 200ms
	$(BIN) --once --target 127.0.0.1 --protocol tcp --port 22 --count 3 --interval 200ms

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: lint
	$(GO) test -race -timeout 25m $(TESTFLAGS) ./...

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./plugin/...

clean:
	rm -f $(BIN)
