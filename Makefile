# The verbs of redox-destination. `make run` and `make test` are all a
# newcomer needs; the rest are for building, benchmarking and deploying.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
CARGO ?= cargo
LAMBDA_STAMP := $(VENV)/.lambda-tools
DEPLOY_STAMP := $(VENV)/.deploy-tools
IMAGE_STAMP := $(VENV)/.image-arm64-tools

# The release build: static x86_64 binaries (glibc linked in, +crt-static),
# so the same files run in the tests, the benchmarks and a FROM-scratch image.
# The flags are given for this target only, with --target, so build scripts
# and proc-macros (built for the host) are unaffected; an exported RUSTFLAGS
# would replace them (scripts/build_image.py refuses the dynamic result).
# getrandom's linux_getrandom backend calls the getrandom syscall through the
# linked-in glibc: its default looks the function up with dlsym, which a
# static binary cannot, and falls back to /dev/urandom, which a container
# may lack. scripts/lambda_events.py repeats these flags (RELEASE_ENV).
RELEASE_TARGET := x86_64-unknown-linux-gnu
RELEASE_DIR := target/$(RELEASE_TARGET)/release
RELEASE_FLAGS := CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"'
# make image ARCH=arm64: a static musl binary cross-compiled with zig.
ARCH ?= amd64
ARM64_TARGET := aarch64-unknown-linux-musl
IMAGE_BINARY_amd64 := $(RELEASE_DIR)/redox-destination
IMAGE_BINARY_arm64 := target/$(ARM64_TARGET)/release/redox-destination
IMAGE_BUILD_amd64 := build-release
IMAGE_BUILD_arm64 := build-arm64

# sam finds cargo-lambda, and cargo-lambda finds zig, in the project's venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run smoke test fuzz venv lint fmt clippy template-lint bench perf build-release image build-arm64 image-arm64-tools lambda-tools lambda-events deploy-tools build-lambda deploy clean-spool

## run: serve locally on 127.0.0.1:8080 with the embedded defaults
run:
	$(CARGO) run

## smoke: act as Redox against a URL: verify, then send one message (make smoke URL=https://… [TOKEN_FILE=path]; or export REDOX_VERIFICATION_TOKEN)
# The token comes from the environment or a file, never from make's command
# line (TOKEN=… would show in `ps` and stay in shell history).
smoke:
	@test -n "$(URL)" || { echo "usage: make smoke URL=<destination URL> [TOKEN_FILE=<file with the verification token>]" >&2; exit 2; }
	@test "$(origin TOKEN)" != "command line" || { echo "make smoke: TOKEN= puts the token in ps and shell history; export REDOX_VERIFICATION_TOKEN or give TOKEN_FILE=<file>" >&2; exit 2; }
	@$(CARGO) run --quiet -- verify "$(URL)" $(if $(TOKEN_FILE),--token-file "$(TOKEN_FILE)")
	@$(CARGO) run --quiet -- send "$(URL)" $(if $(TOKEN_FILE),--token-file "$(TOKEN_FILE)")

## test: everything: formatting, clippy, template linters, unit, emulator and Lambda-mode tests, sample events through cargo-lambda, the image
test: venv lint build-release image lambda-tools
	# Each benchmark runs once, as a smoke test; the sample events go through
	# cargo-lambda's emulator on the release build above (a debug build here
	# would be a second full build: cargo test's dev-dependency features
	# differ); then every test.
	$(CARGO) test --benches
	$(VENV)/bin/python scripts/lambda_events.py --release
	$(CARGO) test --lib --bins --tests

## fuzz: every property-based fuzz target (tests/fuzz.rs) at 100,000 cases, optimised build
FUZZ_CASES ?= 100000
fuzz:
	REDOX_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release --test fuzz -- --nocapture --test-threads 2

## venv: the Python virtual environment with the pinned emulator and linters
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $(VENV_STAMP)

## lint: rustfmt, clippy and the SAM template linters
lint: fmt clippy template-lint

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

template-lint: venv
	bash scripts/lint-template.sh template.yaml
	bash scripts/lint-template.sh deploy/container/template.yaml

## build-release: the optimised static binaries the tests, benchmarks and image use (target/x86_64-unknown-linux-gnu/release)
build-release:
	$(RELEASE_FLAGS) $(CARGO) build --release --target $(RELEASE_TARGET)

## image: the container image, an OCI archive in target/image/ (no Docker daemon; ARCH=arm64 for Graviton)
image: venv $(IMAGE_BUILD_$(ARCH))
	@test -n "$(IMAGE_BUILD_$(ARCH))" || { echo "make image: ARCH must be amd64 or arm64, not $(ARCH)" >&2; exit 2; }
	$(VENV)/bin/python scripts/build_image.py --arch $(ARCH) --binary $(IMAGE_BINARY_$(ARCH)) --out target/image/redox-destination-$(ARCH).tar

## build-arm64: the static arm64 (musl) binary for `make image ARCH=arm64`, cross-compiled with cargo-zigbuild and zig
build-arm64: image-arm64-tools
	cargo zigbuild --release --target $(ARM64_TARGET) --bin redox-destination

## image-arm64-tools: lambda-tools plus cargo-zigbuild (PyPI) and the arm64 musl Rust target (rustup; not needed by test)
image-arm64-tools: $(IMAGE_STAMP)

$(IMAGE_STAMP): $(LAMBDA_STAMP)
	rustup target add $(ARM64_TARGET)
	touch $(IMAGE_STAMP)

## bench: criterion benchmarks (request path, SigV4 verification, JWT validation)
bench:
	$(CARGO) bench

## perf: Lambda-mode CPU per invocation, latency and peak memory per case (release binary, Runtime API emulator, moto); table in target/perf/lambda-mode.md
# What is measured is build-release's binary, what the image ships: `cargo
# bench` builds its harness (with dev-dependency features) under
# target/release, so it cannot change the binary under
# target/x86_64-unknown-linux-gnu/release.
perf: venv build-release
	mkdir -p target/perf
	$(CARGO) bench --bench lambda_mode

## lambda-tools: zig and cargo-lambda from PyPI (all that lambda-events needs)
lambda-tools: $(LAMBDA_STAMP)

$(LAMBDA_STAMP): requirements-deploy.txt $(VENV_STAMP)
	$(VENV)/bin/pip install --quiet -r requirements-deploy.txt
	touch $(LAMBDA_STAMP)

## lambda-events: see it answer as a Lambda: every sample in events/ through cargo-lambda's emulator
lambda-events: lambda-tools
	$(VENV)/bin/python scripts/lambda_events.py $(LAMBDA_EVENTS_FLAGS)

## deploy-tools: lambda-tools plus the arm64 Rust target (rustup downloads it; not needed by test)
deploy-tools: $(DEPLOY_STAMP)

$(DEPLOY_STAMP): $(LAMBDA_STAMP)
	rustup target add aarch64-unknown-linux-gnu
	touch $(DEPLOY_STAMP)

## build-lambda: the arm64 Lambda artefact, target/lambda/redox-destination/bootstrap
build-lambda: deploy-tools
	cargo lambda build --release --arm64

## deploy: build and deploy with AWS SAM (asks for parameters the first time)
deploy: venv deploy-tools
	sam build && sam deploy --guided

clean-spool:
	rm -rf spool
