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

.PHONY: help build test test-api lint demo bench clean runtime models

help: ## list the targets
	@grep -hE '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

build: ## build every tool (release)
	$(CARGO) build --release --workspace --locked

test: runtime ## run every test: unit, CLI, property, pipelines, then the real model against Python
	$(CARGO) test --workspace --locked
	scripts/test-pipelines.sh
	scripts/test-label-tmux.sh
	scripts/test-real-model.sh

runtime: ## fetch the ONNX Runtime library (PyPI onnxruntime, 24 MB) into .cache/refinery
	python3 scripts/models.py runtime

models: ## fetch the runtime, SmolLM2, MiniLM and the 1.5B judge model (about 1.3 GB) and convert them to ONNX
	python3 scripts/models.py

test-api: models ## the API backend against a real llama.cpp server on 127.0.0.1 (builds llama-cpp-python once, ~4 min)
	scripts/test-api-server.sh

lint: ## rustfmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench: build models ## benchmarks against the tools a user would otherwise use
	python3 bench/run.py

clean: ## remove build output and demo results
	rm -rf target $(OUT)

include pipelines/harvest.mk
include pipelines/run003.mk
include pipelines/demo.mk
include pipelines/refine.mk
include pipelines/probes.mk
