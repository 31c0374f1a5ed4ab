# The verbs of redox-destination. `make run` and `make test` are all a
# newcomer needs; the rest are for building, benchmarking and deploying.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
CARGO ?= cargo

.PHONY: run test venv lint fmt clippy template-lint bench build-release build-lambda deploy clean-spool

## run: serve locally on 127.0.0.1:8080 with the embedded defaults
run:
	$(CARGO) run

## test: everything: formatting, clippy, template linters, unit, emulator and Lambda-mode tests
test: venv lint build-release
	$(CARGO) test --all-targets

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

## bench: criterion benchmarks (request path, SigV4 verification)
bench:
	$(CARGO) bench

## build-lambda: the arm64 Lambda artefact (needs cargo-lambda and zig)
build-lambda:
	cargo lambda build --release --arm64

## deploy: build and deploy with AWS SAM (asks for parameters the first time)
deploy: venv
	$(VENV)/bin/sam build && $(VENV)/bin/sam deploy --guided

clean-spool:
	rm -rf spool
