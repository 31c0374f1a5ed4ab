# The verbs of redox-destination. `make run` and `make test` are all a
# newcomer needs; the rest are for building, benchmarking and deploying.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
CARGO ?= cargo
LAMBDA_STAMP := $(VENV)/.lambda-tools
DEPLOY_STAMP := $(VENV)/.deploy-tools

# sam finds cargo-lambda, and cargo-lambda finds zig, in the project's venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run smoke test fuzz venv lint fmt clippy template-lint bench perf build-release lambda-tools lambda-events deploy-tools build-lambda deploy clean-spool

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

## test: everything: formatting, clippy, template linters, unit, emulator and Lambda-mode tests, sample events through cargo-lambda
test: venv lint build-release lambda-tools
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

## build-release: the optimised binary the Lambda-mode tests run
build-release:
	$(CARGO) build --release

## bench: criterion benchmarks (request path, SigV4 verification, JWT validation)
bench:
	$(CARGO) bench

## perf: Lambda-mode CPU per invocation, latency and peak memory per case (release binary, Runtime API emulator, moto); table in target/perf/lambda-mode.md
# The release binary is copied first: `cargo bench` rebuilds the package with
# dev-dependency features, and what is measured must be what ships.
perf: venv
	$(CARGO) build --release
	mkdir -p target/perf
	cp target/release/redox-destination target/perf/redox-destination
	REDOX_RELEASE_BIN=$(CURDIR)/target/perf/redox-destination $(CARGO) bench --bench lambda_mode

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
