# refinery: `make demo` runs the pipeline on the bundled sample data,
# `make test` runs the tests. Both set up what they need.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

CARGO ?= cargo
BIN := $(CURDIR)/target/release
OUT ?= out
export PATH := $(BIN):$(PATH)

.PHONY: help build test lint demo bench clean

help: ## list the targets
	@grep -hE '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

build: ## build every tool (release)
	$(CARGO) build --release --workspace --locked

test: ## run every test: unit, CLI and property tests, then the pipelines end to end
	$(CARGO) test --workspace --locked
	scripts/test-pipelines.sh

lint: ## rustfmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench: build ## benchmarks against the tools a user would otherwise use
	python3 bench/run.py

clean: ## remove build output and demo results
	rm -rf target $(OUT)

include pipelines/harvest.mk
include pipelines/run003.mk
include pipelines/demo.mk
