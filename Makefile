# rcon & capcon. `make demo` builds and shows a real run; `make test` runs
# every test (unit, then integration against real cgroups: needs root).
GO      ?= go
GOFLAGS ?=
export CGO_ENABLED = 0
# The v2 test VM emulates a plain x86-64 CPU; keep binaries runnable there.
export GOAMD64 = v1
# The version --version prints and the package carries; a clone without
# tags still has a commit to name. The pages' date is the commit's, so one
# commit always builds the same pages and package (reproducible builds).
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
LDFLAGS := -s -w -X rcon/cli.version=$(VERSION)
BINS    := bin/rcon bin/capcon

# make install [PREFIX=/usr/local] [DESTDIR=/staging]. zsh searches
# vendor-completions only under /usr (Debian), site-functions elsewhere.
PREFIX  ?= /usr/local
BINDIR  := $(PREFIX)/bin
MANDIR  := $(PREFIX)/share/man
DOCDIR  := $(PREFIX)/share/doc/rcon
BASHDIR := $(PREFIX)/share/bash-completion/completions
ZSHDIR  := $(PREFIX)/share/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
FISHDIR := $(PREFIX)/share/fish/vendor_completions.d

.PHONY: all build test test-host test-vms test-v2 test-v1 test-v2-smp2 test-systemd test-systemd-backend lint demo bench bench-systemd fuzz clean \
	man completions install uninstall deb test-package

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
# hybrid layout of a stock systemd host (cpu,cpuacct co-mounted), the
# --fit tests in a two-CPU v2 VM, and the suite under systemd. The VMs
# are one emulated CPU each: the systemd one runs beside the other three
# (one after another), so that the two host cores are both used; each
# lane's output comes when it ends (-Otarget).
test: test-host
	TESTVM_NO_BUILD=1 $(MAKE) -j2 -Otarget test-vms test-systemd

test-vms:
	$(MAKE) test-v2
	$(MAKE) test-v1
	$(MAKE) test-v2-smp2

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
# as root and then as a lingering user talking to its user manager: there
# the default driver is systemd, so every test that makes a group makes a
# scope (5.5-7 minutes here, 2026-12-03, where TCG runs some 2.5x slower
# than on the machine of the first figures; most of the user's part skips:
# it needs root).
test-systemd:
	TESTVM_TIMEOUT=$${TESTVM_TIMEOUT:-1200} testvm/test-vm.sh systemd

# Only the systemd driver's own tests (integration/systemd_test.go), as
# root and as the lingering user: about 80 s once the image is cached.
test-systemd-backend:
	TESTVM_TEST_ARGS="-test.run Systemd" testvm/test-vm.sh systemd

# Man pages from the tools' own flag definitions and docs/PROFILES.md
# (cmd/gen-man), completion scripts from the tools themselves.
man: build
	$(GO) run ./cmd/gen-man -bin bin -o build/man -version '$(VERSION)'

completions: build
	@mkdir -p build/completion
	for t in rcon capcon; do \
		bin/$$t __completion bash >build/completion/$$t.bash && \
		bin/$$t __completion zsh >build/completion/_$$t && \
		bin/$$t __completion fish >build/completion/$$t.fish || exit 1; \
	done

# Example profiles go to the documentation, never to /etc/rcon/profiles:
# that directory is the administrator's (and a root rcon trusts what is
# in it), so installing never creates, replaces or removes a profile.
install: build man completions
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(BASHDIR) $(DESTDIR)$(ZSHDIR) $(DESTDIR)$(FISHDIR)
	install -m 755 bin/rcon bin/capcon $(DESTDIR)$(BINDIR)/
	install -m 644 build/man/rcon.1 build/man/capcon.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 build/man/rcon.toml.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 build/completion/rcon.bash $(DESTDIR)$(BASHDIR)/rcon
	install -m 644 build/completion/capcon.bash $(DESTDIR)$(BASHDIR)/capcon
	install -m 644 build/completion/_rcon build/completion/_capcon $(DESTDIR)$(ZSHDIR)/
	install -m 644 build/completion/rcon.fish build/completion/capcon.fish $(DESTDIR)$(FISHDIR)/
	install -m 644 testdata/profiles/*.toml $(DESTDIR)$(DOCDIR)/examples/
	install -m 644 README.md docs/PROFILES.md docs/NAMESPACES.md docs/SECURITY.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/rcon $(DESTDIR)$(BINDIR)/capcon \
		$(DESTDIR)$(MANDIR)/man1/rcon.1 $(DESTDIR)$(MANDIR)/man1/capcon.1 $(DESTDIR)$(MANDIR)/man5/rcon.toml.5 \
		$(DESTDIR)$(BASHDIR)/rcon $(DESTDIR)$(BASHDIR)/capcon $(DESTDIR)$(ZSHDIR)/_rcon $(DESTDIR)$(ZSHDIR)/_capcon \
		$(DESTDIR)$(FISHDIR)/rcon.fish $(DESTDIR)$(FISHDIR)/capcon.fish
	rm -rf $(DESTDIR)$(DOCDIR)

# A Debian package of `make install PREFIX=/usr` (packaging/deb/build.sh;
# checked with lintian), and its install-run-purge test.
deb:
	packaging/deb/build.sh

test-package: deb
	packaging/deb/test.sh

demo: build
	scripts/demo.sh

bench: build bench-systemd
	bench/bench.sh

# The systemd driver against systemd-run --scope (and rcon's cgroupfs
# driver) in the systemd VM, as root and as the lingering user; two vCPUs,
# so that rcon's overlapped start (connect while the held start starts)
# is measured as it runs on any multi-core host.
bench-systemd: build
	TESTVM_SMP=2 TESTVM_DIAG=0 TESTVM_SCRIPT=bench/systemd-vm.sh testvm/test-vm.sh systemd

# Each fuzzer runs for FUZZTIME: the profile loader, then rcon's flag parser.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzLoad -fuzztime=$(FUZZTIME) ./profiles/
	$(GO) test -run '^$$' -fuzz=FuzzParseSpec -fuzztime=$(FUZZTIME) ./cmd/rcon/

clean:
	rm -rf bin build
