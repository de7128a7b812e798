#!/usr/bin/env bash
# The real default model end to end: `generate` on SmolLM2-135M-Instruct (as
# `make models` converts it) must give, greedy, the same tokens as the Python
# reference on PyPI onnxruntime + tokenizers, for every prompt in
# testdata/parity/prompts.jsonl, in chat and raw mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${REFINERY_CACHE:-$PWD/.cache/refinery}
python3 scripts/models.py runtime venv smollm2
cargo build --release --locked -q -p refinery-generate
"$cache/venv/bin/python" scripts/lm/parity.py target/release/generate \
  "$cache/models/smollm2-135m-instruct" testdata/parity/prompts.jsonl
# The default model is found without --model, and answers sensibly.
answer=$(echo '{"prompt": "What is the capital of France?"}' | target/release/generate --quiet --max-new-tokens 12)
grep -q 'Paris' <<< "$answer" || { echo "test-real-model: no Paris in: $answer"; exit 1; }
echo "real model: ok"
