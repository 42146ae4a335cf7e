# hping3-plugin: build, run and test.
GO      ?= go
BIN     ?= ./hping3-plugin
TESTFLAGS ?=

.PHONY: all build run preflight deps test tools lint bench bench-process bench-scrape bench-go clean fuzz soak dist

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

# preflight says what make run needs before it builds anything: the Go of
# go.mod, and raw sockets (root, or CAP_NET_RAW on hping3: without root the
# plugin's own binary, just built, has no capability and hping3 times the
# packets).
GO_MIN := $(shell sed -n 's/^go //p' go.mod)
preflight:
	@command -v $(GO) >/dev/null 2>&1 || { echo "make run needs Go $(GO_MIN) or later (https://go.dev/dl/), and $(GO) is not on PATH"; exit 1; }
	@have=$$($(GO) env GOVERSION 2>/dev/null | sed 's/^go//; s/[^0-9.].*//'); \
	if [ "$$(printf '%s\n%s\n' "$(GO_MIN)" "$$have" | sort -V | head -n1)" != "$(GO_MIN)" ]; then \
		echo "make run needs Go $(GO_MIN) or later (go.mod); $(GO) is $$have"; exit 1; \
	fi
	@if [ "$$(id -u)" -ne 0 ]; then \
		h=$$(command -v hping3 || echo /usr/sbin/hping3); \
		if ! getcap "$$h" 2>/dev/null | grep -q cap_net_raw; then \
			echo "make run sends raw packets: run it as root (sudo make run), or give hping3 CAP_NET_RAW (sudo setcap cap_net_raw+ep $$h; docs/install.md)"; exit 1; \
		fi; \
	fi

# run probes 127.0.0.1 once over ICMP and TCP (port 22, open or closed) and
# prints the line-protocol lines. Raw sockets need root or CAP_NET_RAW.
run: preflight deps build
	$(BIN) --once --target 127.0.0.1 --count 3 --interval 200ms
	$(BIN) --once --target 127.0.0.1 --protocol tcp --port 22 --count 3 --interval 200ms

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# internal/deploy (the container, Kubernetes manifests, chained Collectors,
# a Telegraf fleet) runs on its own after the other packages: its memory
# test sends 1000 packets/s on loopback for 25 s and its container build
# loads both cores.
# The network lab (its emulator's own timing tests, then the ground truth
# once per engine) runs last and alone: its RTT and loss bounds are tight,
# and the other packages' tests load both cores. The ground truth runs
# without -race: the plugin under test is its own binary, built without it,
# so the race detector would only slow the emulator and harness the plugin
# is timed against (TestSilentTargetsDoNotDistortOthers, CLI engine: 1 of 8
# runs out of bounds with -race, 0 of 8 without); netlab's tests keep it.
test: lint
	$(GO) test -race -count=1 -timeout 25m $(TESTFLAGS) $$($(GO) list ./... | grep -v -e /internal/labtest -e /internal/netlab -e /internal/deploy)
	$(GO) test -race -count=1 -timeout 10m -p 1 $(TESTFLAGS) ./internal/deploy
	$(GO) test -race -count=1 -timeout 10m -p 1 $(TESTFLAGS) ./internal/netlab
	HPING3_PLUGIN_ENGINE=tcl $(GO) test -count=1 -timeout 10m -p 1 $(TESTFLAGS) ./internal/labtest
	HPING3_PLUGIN_ENGINE=cli $(GO) test -count=1 -timeout 10m -p 1 -skip '^TestTcl' $(TESTFLAGS) ./internal/labtest

# tools builds the Telegraf and OpenTelemetry Collector the end-to-end tests
# run, from the Go module proxy, cached under ~/.cache/hping3-plugin-tools
# (make test builds them on first use too; CI builds them first so no
# compilation runs beside the timing-sensitive tests).
tools:
	$(GO) test -count=1 -timeout 15m -run '^TestTools$$' ./internal/testbin
	$(GO) test -count=1 -timeout 15m -run '^TestDeployTools$$' ./internal/deploy

# bench measures rounds of 1..3000 lab targets with each engine against
# fping and Telegraf's inputs.ping in isolated network namespaces
# (docs/performance.md). Needs root, ip, hping3 and fping; builds Telegraf
# once (cached). Under 2 minutes.
BENCHFLAGS ?=
bench:
	$(GO) run ./internal/bench/cmd/labbench $(BENCHFLAGS)

# bench-process measures the plugin binary built from the tree as whole
# processes in the same lab (docs/performance.md): continuous mode on 1000
# and 300 targets for 20 s each against fping -l for as long (CPU of the
# whole process tree, plugin and hping3), then rounds of 300 and 1000
# targets against fping -i 1 and Telegraf's inputs.ping. Needs root, ip,
# hping3, fping and the Telegraf of make tools. About 2 minutes.
PROCFLAGS ?=
bench-process: build
	$(GO) run ./internal/bench/cmd/procbench -plugin $(BIN) $(PROCFLAGS)

# bench-scrape measures what a Prometheus scrape costs the plugin binary
# built from the tree, probing 1000 lab targets, beside smokeping_prober on
# the same targets when one is on PATH (SCRAPEFLAGS=-smokeping none skips
# it; -n 1000,10000 adds 10,000 targets). Needs root, ip, hping3 and curl.
# About 2 minutes.
SCRAPEFLAGS ?=
bench-scrape: build
	$(GO) run ./internal/bench/cmd/scrapebench -plugin $(BIN) $(SCRAPEFLAGS)

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./plugin/... ./internal/bench/

# fuzz runs every fuzz test in the tree (go test -fuzz takes one per run) for
# FUZZTIME each; a crasher lands in the package's testdata/fuzz and fails.
# FUZZMINIMIZE: minimizing each new interesting input (up to 60 s by
# default, and not counted as executions) held both workers for most of a
# 15 s window: the config fuzzer showed 0 execs/s after its first seconds,
# and 30,000/s with minimizing off. A crasher is then kept as found.
# Go 1.26's fuzz coordinator can report "context deadline exceeded" as a
# failure when -fuzztime ends while a worker is mid-call, with no failing
# input (go.dev/issue/75804, fixed in Go 1.27): a run that fails so and
# writes no new input under testdata/fuzz is said and not counted; any other
# failure fails.
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 0s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $${f#./}); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$name in ./$$dir for $(FUZZTIME)"; \
			before=$$(ls $$dir/testdata/fuzz/$$name 2>/dev/null | wc -l); \
			out=$$(mktemp); \
			if $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./$$dir >$$out 2>&1; then \
				cat $$out; rm -f $$out; continue; \
			fi; \
			cat $$out; \
			after=$$(ls $$dir/testdata/fuzz/$$name 2>/dev/null | wc -l); \
			if [ "$$after" -eq "$$before" ] && grep -q '^    context deadline exceeded$$' $$out; then \
				echo "fuzz $$name: the coordinator's end-of-time race (go.dev/issue/75804), no failing input: not counted"; \
				rm -f $$out; continue; \
			fi; \
			rm -f $$out; exit 1; \
		done; \
	done

# soak runs 10,000 rounds against a fast stand-in hping3 and prints the
# goroutine, file descriptor and RSS figures (make test runs 1,000).
soak:
	HPING3_SOAK=1 $(GO) test -count=1 -timeout 10m -run '^TestSoak$$' -v ./internal/hardening

# soak-continuous probes 300 lab targets in continuous mode (one packet per
# target per second, a report every 10 s) for SOAK_DURATION, default 1h, and
# prints the core's RSS, goroutines and descriptors and the engine's RSS and
# CPU once a minute; it fails when one grew, the engine restarted or a
# window failed. Needs root, ip and hping3; not run by make test or CI.
SOAK_DURATION ?= 1h
SOAK_TARGETS ?= 1000
SOAKFLAGS ?=
.PHONY: soak-continuous
soak-continuous:
	$(GO) run ./internal/bench/cmd/soak -duration $(SOAK_DURATION) $(SOAKFLAGS)

# soak-scrape runs the binary built from the tree with --prometheus-listen
# on SOAK_TARGETS lab targets (default 1000; above that max_packet_rate is
# raised to match, up to 10,000) for SOAK_DURATION, scraped every 15 s, and prints the
# packets, the lost ones, counters that went down, RSS and CPU once a
# minute; it fails when a packet was lost, a counter went down or the RSS
# grew. Needs root, ip, hping3 and curl; not run by make test or CI.
.PHONY: soak-scrape
soak-scrape: build
	$(GO) run ./internal/bench/cmd/scrapebench -plugin $(BIN) -n $(SOAK_TARGETS) -soak $(SOAK_DURATION)

# dist writes the release files into DISTDIR (docs/install.md): for linux
# amd64 and arm64 a tarball, a .deb and an .rpm (made with nfpm, a Go module
# pinned in go.mod), and SHA256SUMS. The version comes from git describe
# (v1.2.0 tags; 0.0.0+gCOMMIT before the first), or VERSION=1.2.0.
DISTDIR ?= dist
VERSION ?=
dist:
	$(GO) run ./internal/dist/cmd/dist -out $(DISTDIR) -go $(GO) $(if $(VERSION),-version $(VERSION))

clean:
	rm -f $(BIN)
	rm -rf dist
