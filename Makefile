# sigbox build entry points. The README's quick start is `make run` and `make test`.
#
#   make          install missing prerequisites, build host and signatures,
#                 sign them with a development key (made on first use)
#   make run      the above, then run the daemon on the default signatures
#   make test     lints first (fmt, clippy), then the above, then every test
#                 (unit, guest, end-to-end; saved fuzz inputs replayed as unit tests)
#   make bench    benchmarks
#   make install  the above, then install binary, systemd unit, default
#                 signatures and a trust policy (PREFIX, DESTDIR honoured)
#   make image    the container image (podman), IMAGE=localhost/sigbox:dev
#   make soak     DURATION=1h of live load and hot swaps, sampled (root)
#   make fuzz     every fuzz target for FUZZ_SECONDS (600) each (instrumented
#                 build); `make fuzz-ci` 30 s each. Not part of `make test`.
#
# The host builds with the machine's rustup toolchain; signatures build for
# wasm32-wasip2 (see guest-signatures/build.sh and docs in README.md).

CARGO      ?= cargo
SIGNATURES ?= target/signatures
SIGBOX     := target/release/sigbox
# The development signing key `make` creates on first use (under target/, so
# never committed) and the trust policy `make run` and the tests use, which
# trusts that key only. Production keys and policies: README, "Shipping signatures".
DEV_KEY    := target/dev-key/sigbox-dev
DEV_TRUST  := target/dev-trust.toml
# Debian packages the build needs: the wasm32-wasip2 std sources and libc for
# guests (rustc-web/cargo-web/rust-web-src/wasi-libc, lld-22 for wasm-ld), clang/libbpf/bpftool for eBPF,
# OpenSSL for registry TLS, and the real servers the tests start on loopback:
# the CNCF distribution registry and Prometheus; podman (with runc) builds and
# runs the container image; netcat-openbsd is the real `nc` the author-kit
# test's example signature must catch live.
DEB_PACKAGES := rustc-web cargo-web rust-web-src wasi-libc lld-22 clang-19 libbpf-dev bpftool libssl-dev pkg-config docker-registry prometheus podman runc containerd netcat-openbsd
WASM_COMPONENT_LD_VERSION := 0.5.31
# Python signatures are built with componentize-py (from PyPI).
COMPONENTIZE_PY_VERSION := 0.25.1

.PHONY: module-graph all deps host guests sign install install-files image soak fuzz fuzz-ci run replay-sample test test-unit test-guests test-e2e lint bench

all: host guests sign

# Installs only what is missing, so it is cheap to run every time.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi
	@if ! command -v wasm-component-ld >/dev/null 2>&1 && [ ! -x "$$HOME/.cargo/bin/wasm-component-ld" ]; then \
	  echo "installing wasm-component-ld $(WASM_COMPONENT_LD_VERSION)"; \
	  $(CARGO) install --locked wasm-component-ld --version $(WASM_COMPONENT_LD_VERSION); \
	fi
	@if [ "$$(componentize-py --version 2>/dev/null)" != "componentize-py $(COMPONENTIZE_PY_VERSION)" ]; then \
	  echo "installing componentize-py $(COMPONENTIZE_PY_VERSION)"; \
	  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet componentize-py==$(COMPONENTIZE_PY_VERSION); \
	fi

# The touch marks the binary as built from the sources as they are now, which
# the end-to-end harness checks (an edit cargo ignores would otherwise leave
# the binary looking stale).
host: deps
	$(CARGO) build --release --workspace
	touch $(SIGBOX)

guests: deps
	bash guest-signatures/build.sh

# Signs every built module with the development key (a module already
# signed by it is left as it is), and writes the policy that trusts it.
sign: host guests
	@if [ ! -f $(DEV_KEY).key ]; then \
	  mkdir -p $(dir $(DEV_KEY)) && chmod 700 $(dir $(DEV_KEY)) && \
	  $(SIGBOX) keygen $(DEV_KEY); fi
	@printf '%s\n' '# Written by make: trusts the development key for every signature id.' \
	  '[[key]]' 'name = "development key (make)"' 'public_key = "dev-key/sigbox-dev.pub"' > $(DEV_TRUST)
	@for module in $(SIGNATURES)/*.wasm target/signatures-test/*.wasm; do \
	  $(SIGBOX) sign --key $(DEV_KEY).key $$module >/dev/null || exit 1; done
	@echo "signed target/signatures and target/signatures-test with $(DEV_KEY).key (trusted by $(DEV_TRUST))"

# Where `make install` puts things: the binary and docs under PREFIX; the
# unit, config and trust policy under /etc; signatures in the state directory
# the unit watches. DESTDIR stages the whole tree elsewhere (packaging, tests).
PREFIX  ?= /usr/local
DESTDIR ?=

install: all install-files

# The binary is installed stripped (`install -s`): the release profile keeps
# line tables for backtraces and profiling, which are most of its size.
# The installed trust policy trusts this machine's development key (the one
# `make` signed the default signatures with); an existing policy or env
# file is never overwritten. For a fleet, list your own keys (README,
# "Shipping signatures").
install-files:
	install -D -s -m 0755 $(SIGBOX) $(DESTDIR)$(PREFIX)/bin/sigbox
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sigbox/README.md
	install -d -m 0755 $(DESTDIR)/etc/systemd/system $(DESTDIR)/etc/sigbox/keys $(DESTDIR)/var/lib/sigbox/signatures
	sed 's|@PREFIX@|$(PREFIX)|g' deploy/systemd/sigbox.service > $(DESTDIR)/etc/systemd/system/sigbox.service
	install -m 0644 $(SIGNATURES)/*.wasm $(DESTDIR)/var/lib/sigbox/signatures/
	install -m 0644 $(DEV_KEY).pub $(DESTDIR)/etc/sigbox/keys/
	@[ -e $(DESTDIR)/etc/sigbox/sigbox.env ] || install -m 0644 deploy/systemd/sigbox.env $(DESTDIR)/etc/sigbox/sigbox.env
	@[ -e $(DESTDIR)/etc/sigbox/trust.toml ] || printf '%s\n' \
	  '# Installed by make install: trusts the development key of the machine that built' \
	  '# these signatures. List your own keys for a fleet (README, "Shipping signatures").' \
	  '[[key]]' 'name = "development key (make)"' 'public_key = "keys/sigbox-dev.pub"' \
	  > $(DESTDIR)/etc/sigbox/trust.toml
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload && \
	  echo "installed; start it with: systemctl enable --now sigbox"; \
	 else echo "installed under $(DESTDIR)/ (systemd is not running here: start $(PREFIX)/bin/sigbox as the unit's ExecStart says)"; fi

# The container image, built with podman from a root filesystem assembled
# here (deploy/container/rootfs.sh): no base image, no registry.
IMAGE ?= localhost/sigbox:dev
image: all
	bash deploy/container/rootfs.sh target/image/rootfs $(SIGBOX) $(SIGNATURES) $(DEV_TRUST)
	cp deploy/container/Containerfile target/image/Containerfile
	podman build -t $(IMAGE) target/image

# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of everything sigbox reads
# from outside; fuzz/run.sh prints executions and coverage per target. The
# instrumented build takes minutes, so `make test` does not fuzz: it replays
# every saved input through the same target bodies as unit tests
# (host/src/fuzz_replay.rs). Run `make fuzz-ci` on a change to a parser, and
# `make fuzz` before a release.
FUZZ_SECONDS ?= 600
fuzz: all
	bash fuzz/run.sh $(FUZZ_SECONDS)

fuzz-ci: all
	bash fuzz/run.sh 30

# The soak run: the live daemon under steady exec load with a signature
# swapped every 5 s, sampled every 10 s into target/soak-$(DURATION).csv; it
# fails if memory or descriptors grow past their bounds or a finding is missed.
DURATION ?= 10m
soak: all
	$(CARGO) run --release -p sigbox-e2e --bin soak -- $(DURATION) target/soak-$(DURATION).csv

# The live daemon needs root (or CAP_BPF + CAP_PERFMON) to load its eBPF programs.
run: all
	@echo "sigbox: watching every exec; try: cp /bin/sh /tmp/nginx && /tmp/nginx -c 'sh -c id'   (Ctrl-C stops)"
	@if [ "$$(id -u)" -eq 0 ]; then $(SIGBOX) run --signatures $(SIGNATURES) --trust $(DEV_TRUST); \
	 else sudo $(SIGBOX) run --signatures $(SIGNATURES) --trust $(DEV_TRUST); fi

# Replays the bundled sample of Tracee events (no privileges needed).
replay-sample: all
	$(SIGBOX) replay --signatures $(SIGNATURES) --trust $(DEV_TRUST) tests/fixtures/sample-events.jsonl

# Lints run first, before the build, so a formatting or clippy error answers
# in minutes. clippy type-checks the dependencies in check mode, which no
# build shares, so running it first costs nothing extra. The host and the
# guests then build side by side (cargo shares make's two job slots, so the
# guests fill the cores the host build's serial tail leaves idle); the tests
# run one after another. Each step prints when it starts.
test: lint
	@echo "== make test: building, $$(date +%T)"
	$(MAKE) --jobs=2 all
	@echo "== make test: unit tests, $$(date +%T)"
	$(MAKE) test-unit
	@echo "== make test: guest tests, $$(date +%T)"
	$(MAKE) test-guests
	@echo "== make test: end-to-end tests, $$(date +%T)"
	$(MAKE) test-e2e
	@echo "== make test: passed, $$(date +%T)"

test-unit:
	$(CARGO) test --release -p sigbox

# Guest logic is tested natively in the dev profile: the release profile's
# LTO (for the wasm builds) would cost minutes per test binary.
test-guests:
	cd guest-signatures && $(CARGO) test

test-e2e:
	$(CARGO) test --release -p sigbox-e2e -- --test-threads=2

# clippy needs deps: the host's build script compiles the eBPF object (clang).
lint: deps
	@echo "== make test: lints, $$(date +%T)"
	$(CARGO) fmt --all -- --check
	cd guest-signatures && $(CARGO) fmt --all -- --check
	cd fuzz && $(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	cd guest-signatures && $(CARGO) clippy --release --all-targets -- -D warnings

# Prints which top-level modules of host/src import which (the test
# host/tests/module_graph.rs fails on an import cycle between them).
module-graph:
	SIGBOX_PRINT_MODULE_GRAPH=1 $(CARGO) test --release -p sigbox --test module_graph -- --nocapture folders_import_one_way

# Throughput benchmarks on one pinned core, printed as one table (method and
# figures: BENCHMARKS.md). The batch-transport prototype guest is built first;
# if that fails its rows are skipped.
bench: all
	$(CARGO) bench -p sigbox --bench dispatch
	$(CARGO) bench -p sigbox --bench daemon
	$(CARGO) bench -p sigbox --bench file_events
	$(CARGO) bench -p sigbox --bench ancestry
	$(CARGO) bench -p sigbox --bench net_events
