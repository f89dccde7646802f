# Tocsin build. `make dev` builds everything and starts the agent in dev
# mode; `make test` runs the whole suite, as CI does.

GO        ?= go
BIN       := bin
# The agent's tags are vX.Y.Z; the plugin SDK's, plugins/sdk/vX.Y.Z, are not its version.
VERSION   ?= $(shell git describe --tags --match 'v[0-9]*' --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/tocsin-dev/tocsin/core/buildinfo.Version=$(VERSION)
# Every Go module in the tree: the agent (.), the plugin SDK
# (plugins/sdk, a module of its own that third parties require) and the
# example plugin that is one (examples/plugin-filedrop). test, lint and
# fuzz run in each, so no module's tests drop out silently.
MODULES   := $(sort $(patsubst %/go.mod,%,$(addprefix ./,$(shell git ls-files --cached --others --exclude-standard '*go.mod' | grep -v /testdata/))))
# Every directory under plugins/ with a main.go is a bundled plugin.
PLUGINS   := $(patsubst plugins/%/main.go,%,$(wildcard plugins/*/main.go))
# Fuzz budgets are counts of inputs, not durations: with -fuzztime 12s,
# Go 1.26's coordinator can fail a run with "context deadline exceeded"
# when the deadline meets a worker mid-input (golang/go#75804, fixed in
# Go 1.27). FUZZTIME=60s overrides every target's budget.
FUZZTIME  ?=
# A new interesting input is minimized for at most this many runs: Go's
# default, 60 s, spent the whole budget of a slow target on minimizing
# (FuzzRunFile ran 9 inputs in 90 s; 2,000 in 20 s with 20x).
FUZZMINIMIZE ?= 20x
STATICCHECK_VERSION := v0.8.2
GREMLINS_VERSION := v0.6.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
NFPM_VERSION := v2.45.2
# make package: one .deb per architecture in DIST (removed by make clean).
DIST      := $(BIN)/dist
DEB_ARCHES ?= amd64 arm64
DEB_VERSION ?= $(shell cmd/agent/dist/debversion)

.PHONY: all build dev test test-unit test-rules fuzz e2e bench-compare lint mutate mutate-changed bench capacity proto package clean

all: build

# Shell completion and tocsin(1) come from the commands' own help, by the
# tocsin just built (so build for the host: a cross-built one cannot run).
build: $(BIN)/tocsin $(addprefix $(BIN)/plugins/tocsin-plugin-,$(PLUGINS))
	@mkdir -p $(BIN)/completion $(BIN)/man
	./$(BIN)/tocsin completion bash > $(BIN)/completion/tocsin.bash
	./$(BIN)/tocsin completion zsh > $(BIN)/completion/_tocsin
	./$(BIN)/tocsin man $(BIN)/man

# Always rebuilt; the go build cache makes that cheap.
$(BIN)/tocsin: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/agent

$(BIN)/plugins/tocsin-plugin-%: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS) -X main.version=$(VERSION)' -o $@ ./plugins/$*

FORCE:

# Debian packages, $(DIST)/tocsin_VERSION_ARCH.deb for each of DEB_ARCHES:
# tocsin and the bundled plugins cross-compiled without cgo into
# $(DIST)/ARCH, then packed by nfpm as cmd/agent/dist/nfpm.yaml says (the
# contents, the maintainer scripts). The version is git's, made Debian's
# by cmd/agent/dist/debversion; file times are the commit's.
package: $(addprefix package-,$(DEB_ARCHES))

package-%: build
	rm -rf $(DIST)/$* $(DIST)/tocsin_*_$*.deb
	mkdir -p $(DIST)/$*/completion
	gzip -9nc $(BIN)/man/tocsin.1 > $(DIST)/$*/tocsin.1.gz
	cp $(BIN)/completion/tocsin.bash $(BIN)/completion/_tocsin $(DIST)/$*/completion/
	GOOS=linux GOARCH=$* CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/$*/tocsin ./cmd/agent
	set -e; for p in $(PLUGINS); do \
		GOOS=linux GOARCH=$* CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -X main.version=$(VERSION)' -o $(DIST)/$*/plugins/tocsin-plugin-$$p ./plugins/$$p; \
	done
	TOCSIN_DEB_VERSION='$(DEB_VERSION)' TOCSIN_DEB_ARCH=$* TOCSIN_DEB_STAGE=$(DIST)/$* \
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) \
		$(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION) package \
		-f cmd/agent/dist/nfpm.yaml -p deb -t $(DIST)/

DEV_DIR ?= .tocsin-dev

dev: build
	./$(BIN)/tocsin run -dev -dev-dir $(DEV_DIR)

# The whole suite: unit, integration (real plugin processes) and end-to-end
# tests with the race detector, the rule library's own tests, then a short
# fuzz run of the config loader.
test: build test-unit test-rules fuzz

test-unit:
	set -e; for m in $(MODULES); do echo "== module $$m"; \
		(cd $$m && TOCSIN_BIN_DIR=$(abspath $(BIN)) $(GO) test -race -count=1 -timeout 12m ./...); \
	done

# The built-in rule library's tests: each catalogue rule fires, repeats
# and resolves as rules/README.md says.
test-rules: build
	./$(BIN)/tocsin rules test rules/*_test.hcl

# Each fuzz target for its budget (go test fuzzes one target at a time),
# sized for about 10 s each on 2 cores; the crashers found so far are in
# each package's testdata/fuzz. The fourth argument is the target's module
# when it is not the agent's; cmd/agent's TestFuzzTargetsListed fails
# when a Fuzz function in any module is missing here.
fuzz = cd $(or $(4),.) && $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(or $(FUZZTIME),$(3)) -fuzzminimizetime $(FUZZMINIMIZE) $(2)
fuzz:
	$(call fuzz,FuzzLoad,./core/config/,3000x)
	$(call fuzz,FuzzReload,./core/agent/,500x)
	$(call fuzz,FuzzRunFile,./core/rulestest/,1000x)
	$(call fuzz,FuzzSalvage,./core/outbox/,10000x)
	$(call fuzz,FuzzStatusRules,./core/agent/,10000x)
	$(call fuzz,FuzzRequire,./core/apiauth/,20000x)
	$(call fuzz,FuzzOpen,./core/silence/,2000x)
	$(call fuzz,FuzzValidate,./core/silence/,20000x)
	$(call fuzz,FuzzSettings,./core/peersync/,5000x)
	$(call fuzz,FuzzDecodeStopNotice,./core/facts/,20000x)
	$(call fuzz,FuzzScan,./core/boltsalvage/,20000x)
	$(call fuzz,FuzzPluginReply,./,20000x,plugins/sdk)

# The real-mail-server suite (cmd/agent/e2e): Postfix, Dovecot and a pair
# of Alertmanagers from Debian (installed when missing, as root) run as
# private instances on 127.0.0.1, and the tocsin and plugins built here
# send through them;
# see .ci/e2e/run. Not part of `make test`: CI runs it as its own stage.
e2e: build
	TOCSIN_BIN_DIR=$(abspath $(BIN)) .ci/e2e/run

# Issue 16's comparison against the same Postfix + Dovecot: go-mail over 1
# and 4 connections, Tocsin through smtp-basic (from the rule fire and from
# the file the check reads), Alertmanager 0.25 and msmtp from Debian
# (installed when missing, as root): msg/s, span, p50/p99 alert to
# mailbox, connections, peak RSS, and the targets against go-mail over 4
# connections, measured in the same run. ROUNDS=n (default 3), ONLY=regexp
# of senders, BASE=dir another build's bin directory whose Tocsin runs in
# every round too (an A/B within one run). Prints; never fails on a number.
bench-compare: build
	TOCSIN_BIN_DIR=$(abspath $(BIN)) TOCSIN_BENCH_ROUNDS=$(ROUNDS) TOCSIN_BENCH_ONLY='$(ONLY)' TOCSIN_BENCH_BASE='$(if $(BASE),$(abspath $(BASE)))' .ci/e2e/run bench

lint: $(BIN)/tocsin
	./$(BIN)/tocsin fmt -check agent.hcl.example examples rules
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: run gofmt -w on the files above'; exit 1; }
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	set -e; for m in $(MODULES); do echo "== module $$m"; \
		extra=; [ "$$m" = . ] && extra=./.ci/mutate; \
		(cd $$m && $(GO) mod tidy -diff && $(GO) vet ./... $$extra && $$($(GO) env GOPATH)/bin/staticcheck ./... $$extra); \
	done

# Mutation testing (gremlins) of the packages operators rely on: per
# package the killed / lived / not covered / timed out mutants and the kill
# rate, then the survivors not recorded in .ci/mutation-equivalents.txt.
# Fails when the overall kill rate is under 90 %. A full run refreshes
# .ci/mutation-baseline.tsv; PKGS='core/x ...' runs (and refreshes) only
# those; CHANGED=1 (or mutate-changed, as CI does) runs only the packages
# whose sources differ from the baseline. MUTATE_FLAGS passes more flags
# (-workers, -timeout-coefficient, -keep DIR; see go run ./.ci/mutate -h).
mutate:
	$(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	$(GO) run ./.ci/mutate -gremlins "$$($(GO) env GOPATH)/bin/gremlins" $(if $(CHANGED),-changed) $(if $(PKGS),-pkgs '$(PKGS)') $(MUTATE_FLAGS)

mutate-changed:
	$(MAKE) mutate CHANGED=1

# Benchmarks report; they never fail on speed. See README "Performance".
bench: build
	TOCSIN_BIN_DIR=$(abspath $(BIN)) $(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

# The capacity targets of issue 11, on an otherwise idle machine: the
# engine's tick over 1,000 checks and 10,000 rules (with the rules
# package's evaluation alone as the baseline), then the real agent for 10
# ticks (tick times, /v1/status latency, peak RSS).
capacity: build
	$(GO) test -run '^$$' -bench 'EngineTick|EvaluateTick|Status$$' -benchtime 20x -count 1 ./core/engine ./core/agent ./core/rules
	TOCSIN_CAPACITY=1 TOCSIN_BIN_DIR=$(abspath $(BIN)) $(GO) test -count=1 -run TestCapacity_RealAgent -v ./cmd/agent

# Regenerate the committed protobuf code (needs protoc; apt-get install protobuf-compiler).
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd plugins/sdk/proto && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc \
		--go_out=../internal/transportv1 --go_opt=paths=source_relative \
		--go-grpc_out=../internal/transportv1 --go-grpc_opt=paths=source_relative transport.proto

clean:
	rm -rf $(BIN) .tocsin-dev
