# rcon & capcon. `make demo` builds and shows a real run; `make test` runs
# every test (unit, then integration against real cgroups: needs root).
GO      ?= go
GOFLAGS ?=
export CGO_ENABLED = 0
# The v2 test VM emulates a plain x86-64 CPU; keep binaries runnable there.
export GOAMD64 = v1
LDFLAGS := -s -w
BINS    := bin/rcon bin/capcon

.PHONY: all build test test-host test-v2 test-v1 test-v2-smp2 test-systemd lint demo bench fuzz clean

all: build

build: $(BINS)

bin/%: FORCE
	$(GO) build $(GOFLAGS) -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/$*

FORCE:

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	staticcheck ./...
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "go mod tidy: go.mod/go.sum above need tidying"; exit 1; }

# Everything: unit and integration tests on this host, then the same
# integration suite inside a VM with cgroup v2, and in one with the v1
# hybrid layout of a stock systemd host (cpu,cpuacct co-mounted); last the
# --fit tests in a two-CPU v2 VM.
test: test-host test-v2 test-v1 test-v2-smp2

test-host: build
	$(GO) test -count=1 -p 1 ./...

test-v2:
	testvm/test-vm.sh v2

test-v1:
	testvm/test-vm.sh v1

# The VMs have one CPU; --fit's CPU half needs two to tell.
test-v2-smp2:
	TESTVM_SMP=2 TESTVM_TEST_ARGS="-test.run TestFit -test.v" testvm/test-vm.sh v2

# The suite on a Debian root with systemd as PID 1 (testvm/prepare-systemd.sh),
# as root and then as a lingering user talking to its user manager. Not in
# `test` yet: rcon has no systemd backend (issue 10), so as the user it
# refuses to run ("pass --parent"; the suite's tests skip as non-root), and
# as root it writes the root cgroup systemd owns, where systemd enables only
# cpu, memory and pids: three io/cpuset tests fail. The target is there for
# the backend's author until it passes (whole suite: about 3 minutes).
test-systemd:
	testvm/test-vm.sh systemd

demo: build
	scripts/demo.sh

bench: build
	bench/bench.sh

# Each fuzzer runs for FUZZTIME: the profile loader, then rcon's flag parser.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzLoad -fuzztime=$(FUZZTIME) ./profiles/
	$(GO) test -run '^$$' -fuzz=FuzzParseSpec -fuzztime=$(FUZZTIME) ./cmd/rcon/

clean:
	rm -rf bin
