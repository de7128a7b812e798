#!/usr/bin/env bash
# The API backend end to end against a real OpenAI-compatible server:
# llama.cpp's server (PyPI llama-cpp-python) on 127.0.0.1 serving the
# SmolLM2 GGUF. `generate` in chat and raw mode, seeded sampling, --resume,
# `expand-scenarios` over the completions endpoint,
# and `vet-score` over the API against the same judge on ONNX Runtime; the
# judges' Qwen2 model as converted against llama.cpp on its GGUF; converted
# Llama 3.1 and Gemma 3 (tiny), SmolLM2 and Gemma 3 270M against llama.cpp
# in process.
# The first run builds llama-cpp-python (about 4 minutes); later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/models.py runtime venv smollm2 judge gemma3
cache=${REFINERY_CACHE:-$PWD/.cache/refinery}
python3 scripts/llama_server.py install
cargo build --release --locked -q -p refinery-generate -p refinery-vet-score -p refinery-expand-scenarios
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tmp=$(mktemp -d)
trap 'python3 scripts/llama_server.py stop "$port"; rm -rf "$tmp"' EXIT
url=$(python3 scripts/llama_server.py start "$port")
api=(--backend openai --base-url "$url" --api-model smollm2-135m-instruct)
bin=target/release
fail() { echo "test-api-server: $*" >&2; exit 1; }

# 1. Chat completions, greedy: every row answered, in input order, twice the same.
head -6 testdata/parity/prompts.jsonl > "$tmp/prompts.jsonl"
$bin/generate --quiet "${api[@]}" --max-new-tokens 24 --concurrency 4 "$tmp/prompts.jsonl" > "$tmp/chat1.jsonl"
$bin/generate --quiet "${api[@]}" --max-new-tokens 24 --concurrency 1 "$tmp/prompts.jsonl" > "$tmp/chat2.jsonl"
cmp -s "$tmp/chat1.jsonl" "$tmp/chat2.jsonl" || fail "greedy chat output differs between runs"
python3 - "$tmp/prompts.jsonl" "$tmp/chat1.jsonl" <<'EOF' || fail "chat rows are wrong"
import json, sys
prompts = [json.loads(l) for l in open(sys.argv[1])]
rows = [json.loads(l) for l in open(sys.argv[2])]
assert [r["prompt"] for r in rows] == [p["prompt"] for p in prompts], "input order"
for r in rows:
    assert isinstance(r["response"], str) and r["response"].strip(), r
    assert r["finish_reason"] in ("stop", "length"), r
    assert r["prompt_token_count"] > 0 and 0 < r["response_token_count"] <= 24, r
    assert r["model"] == "smollm2-135m-instruct" and len(r["input_hash"]) == 32, r
    assert "error" not in r, r
EOF

# 2. Completions (raw), seeded sampling with rollouts: reproducible, rollouts differ.
#    One request at a time: this server reuses the previous request's prompt
#    cache, and the logits it computes differ slightly with what was cached,
#    so with several requests in flight (their order up to the machine) the
#    same seed can sample other text (seen in CI; README, "Reproducible sampling over an API").
#    Texts must match exactly; log-probabilities to 1e-3 nat, as the first
#    request of each run follows a different cached prompt.
sample=(--raw --logprobs --temperature 0.9 --top-p 0.95 --seed 7 --rollouts 2 --max-new-tokens 16 --concurrency 1)
$bin/generate --quiet "${api[@]}" "${sample[@]}" "$tmp/prompts.jsonl" > "$tmp/raw1.jsonl"
$bin/generate --quiet "${api[@]}" "${sample[@]}" "$tmp/prompts.jsonl" > "$tmp/raw2.jsonl"
python3 - "$tmp/raw1.jsonl" "$tmp/raw2.jsonl" <<'EOF' || fail "seeded sampling is not reproducible"
import json, sys
one, two = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
assert len(one) == len(two)
for a, b in zip(one, two):
    la, lb = a.pop("response_logprobs"), b.pop("response_logprobs")
    assert a == b, (a, b)
    assert [t["token"] for t in la] == [t["token"] for t in lb], (la, lb)
    for x, y in zip(la, lb):
        both = x["logprob"] is not None and y["logprob"] is not None
        assert x["logprob"] == y["logprob"] or (both and abs(x["logprob"] - y["logprob"]) < 1e-3), (x, y)
EOF
python3 - "$tmp/raw1.jsonl" <<'EOF' || fail "raw rows are wrong"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 12 and [r["rollout"] for r in rows[:2]] == [0, 1]
assert all(len(r["response_logprobs"]) == r["response_token_count"] for r in rows)
assert sum(a["response"] != b["response"] for a, b in zip(rows[::2], rows[1::2])) >= 4, "rollouts differ"
EOF

# 3. --resume: a finished file is reused whole, without a request.
$bin/generate "${api[@]}" --max-new-tokens 24 --resume "$tmp/resumed.jsonl" "$tmp/prompts.jsonl" 2> /dev/null
$bin/generate "${api[@]}" --max-new-tokens 24 --resume "$tmp/resumed.jsonl" "$tmp/prompts.jsonl" 2> "$tmp/resume.log"
grep -q "api: 0 requests" "$tmp/resume.log" || fail "resume asked again: $(cat "$tmp/resume.log")"
cmp -s "$tmp/resumed.jsonl" "$tmp/chat1.jsonl" || fail "the resumed file differs from the plain run"

# 4. The judge over the API (completions, numbers completed digit by digit)
#    agrees with the same judge on ONNX Runtime (float16 there, Q4_1 here).
trait=pipelines/traits/sycophancy
head -4 $trait/positive.txt > "$tmp/positive.txt"
head -4 $trait/negative.txt > "$tmp/negative.txt"
vet=(--quiet --raw --stage scenario --definition $trait/definition.txt --positive "$tmp/positive.txt" --negative "$tmp/negative.txt")
$bin/vet-score "${vet[@]}" "${api[@]}" > "$tmp/vet_api.jsonl"
# The same model and judge on ONNX Runtime (not the judges' default model).
$bin/vet-score "${vet[@]}" --judge lm --model "$cache/models/smollm2-135m-instruct" > "$tmp/vet_onnx.jsonl"
python3 - "$tmp/vet_api.jsonl" "$tmp/vet_onnx.jsonl" <<'EOF' || fail "the API judge disagrees with the ONNX judge"
import json, sys
api = [json.loads(l)["scenario_vet"] for l in open(sys.argv[1])]
onnx = [json.loads(l)["scenario_vet"] for l in open(sys.argv[2])]
assert len(api) == len(onnx) == 8
assert all(a["judge"] == "api:smollm2-135m-instruct" and a["mass"] > 0.5 for a in api), api
diffs = [abs(a["score"] - o["score"]) for a, o in zip(api, onnx)]
print(f"test-api-server: judge over the API vs ONNX: mean |diff| {sum(diffs) / len(diffs):.2f}, max {max(diffs):.2f} points")
assert sum(diffs) / len(diffs) < 3 and max(diffs) < 8, diffs
EOF

# 5. The judge over chat completions (this server cannot continue an
#    assistant message, so no follow-ups): every row scored or given a mass.
$bin/vet-score "${vet[@]/--raw/--chat}" "${api[@]}" --followups off --min-mass 0 > "$tmp/vet_chat.jsonl"
python3 - "$tmp/vet_chat.jsonl" <<'EOF' || fail "chat judge rows are wrong"
import json, sys
rows = [json.loads(l)["scenario_vet"] for l in open(sys.argv[1])]
assert len(rows) == 8 and all("mass" in r and "error" not in r for r in rows), rows
EOF
# 6. The judges' model as converted (Qwen2, 4-bit blocks) against llama.cpp on
#    the GGUF it came from: greedy chat answers to the same prompts.
judge_gguf=$cache/gguf/Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf
judge_dir=$cache/models/qwen2.5-coder-1.5b-instruct
# The converter's Q4_K blocks give gguf's own dequantized values.
"$cache/venv/bin/python" - "$judge_gguf" <<'EOF' || fail "Q4_K blocks differ from gguf's dequantizer"
import sys
import numpy as np
sys.path.insert(0, "scripts/lm")
from gguf import GGUFReader
from gguf.quants import dequantize
from gguf_to_onnx import blocks_of
checked = 0
for t in GGUFReader(sys.argv[1]).tensors:
    if t.name in ("blk.0.attn_q.weight", "blk.3.ffn_up.weight", "token_embd.weight"):
        want = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(*reversed([int(d) for d in t.shape]))
        b = blocks_of(t)
        got = (b.scale[..., None] * (b.q.astype(np.float32) - 8) + b.offset[..., None]).reshape(want.shape)
        assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max(), t.name
        checked += 1
assert checked == 3, checked
print("test-api-server: Q4_K blocks equal gguf's dequantizer on 3 tensors")
EOF
head -6 testdata/parity/prompts.jsonl > "$tmp/judge_prompts.jsonl"
"$cache/llama-server/bin/python" scripts/llama_reference.py "$judge_gguf" "$tmp/judge_prompts.jsonl" > "$tmp/judge_llama.jsonl"
$bin/generate --quiet --chat --model "$judge_dir" --max-new-tokens 16 "$tmp/judge_prompts.jsonl" > "$tmp/judge_onnx.jsonl"
python3 - "$tmp/judge_llama.jsonl" "$tmp/judge_onnx.jsonl" <<'EOF' || fail "the converted judge model disagrees with llama.cpp"
import json, sys
llama = [json.loads(l)["response"] for l in open(sys.argv[1])]
onnx = [json.loads(l)["response"] for l in open(sys.argv[2])]
start = sum(a[:20] == b[:20] for a, b in zip(llama, onnx))
whole = sum(a == b for a, b in zip(llama, onnx))
print(f"test-api-server: converted Qwen2 vs llama.cpp: {start}/{len(llama)} answers agree on their first 20 characters, {whole} in full (16 tokens)")
assert len(llama) == len(onnx) == 6 and start >= 4, (llama, onnx)
EOF

# 7. The judges' model scores like llama.cpp on its GGUF: the digit judge on
#    the converted model (4-bit blocks, ONNX Runtime) against the same judge
#    over a llama.cpp server serving the Q4_K_M file, on the same 8 rows.
judge_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'python3 scripts/llama_server.py stop "$port"; python3 scripts/llama_server.py stop "$judge_port"; rm -rf "$tmp"' EXIT
judge_url=$(python3 scripts/llama_server.py start "$judge_port" judge)
$bin/vet-score "${vet[@]}" --backend openai --base-url "$judge_url" --api-model qwen2.5-coder-1.5b-instruct > "$tmp/judge_api.jsonl"
$bin/vet-score "${vet[@]}" --judge lm --model "$judge_dir" > "$tmp/judge_onnx_scores.jsonl"
python3 - "$tmp/judge_api.jsonl" "$tmp/judge_onnx_scores.jsonl" <<'EOF' || fail "the converted judge model scores unlike llama.cpp"
import json, sys
api = [json.loads(l)["scenario_vet"] for l in open(sys.argv[1])]
onnx = [json.loads(l)["scenario_vet"] for l in open(sys.argv[2])]
assert len(api) == len(onnx) == 8 and all(a["score"] is not None for a in api + onnx), (api, onnx)
diffs = [abs(a["score"] - o["score"]) for a, o in zip(api, onnx)]
print(f"test-api-server: judge scores, converted Qwen2 vs llama.cpp: mean |diff| {sum(diffs) / len(diffs):.2f}, max {max(diffs):.2f} points")
assert sum(diffs) / len(diffs) < 2, diffs
EOF
# 8. Scale-up over the API: new pairs from the server's completions endpoint,
#    the same for the same seed (one request at a time, as in step 2), none
#    repeating an example, pairs aligned, marked with the served model.
trait=pipelines/traits/sycophancy
expand=($bin/expand-scenarios --quiet "${api[@]}" --concurrency 1 --positive $trait/positive.txt --negative $trait/negative.txt -n 3 --seed 1)
"${expand[@]}" > "$tmp/expand1.jsonl"
"${expand[@]}" > "$tmp/expand2.jsonl"
cmp -s "$tmp/expand1.jsonl" "$tmp/expand2.jsonl" || fail "expand-scenarios over the API differs for the same seed"
python3 - "$tmp/expand1.jsonl" $trait <<'EOF' || fail "expand-scenarios rows over the API are wrong"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
known = {l.strip().lower() for f in ("positive.txt", "negative.txt") for l in open(f"{sys.argv[2]}/{f}") if l.strip()}
assert rows and len(rows) % 2 == 0, rows
assert [(r["pair"], r["polarity"]) for r in rows] == [(i, p) for i in range(len(rows) // 2) for p in ("positive", "negative")]
assert all(r["prompt"].strip() and r["prompt"].strip().lower() not in known for r in rows), rows
assert all(r["generated"]["model"] == "smollm2-135m-instruct" for r in rows), rows
print(f"test-api-server: expand-scenarios wrote {len(rows) // 2} new pairs over the API")
EOF
# 9. Converted models decode like llama.cpp on their GGUF, token for token
#    (raw prompts, greedy, in process): tiny random Llama 3.1 and Gemma 3
#    models (float weights: the same arithmetic up to rounding), and the
#    real 4-bit SmolLM2 and Gemma 3 270M (the same blocks; both sides
#    quantize activations to 8 bits, each its own way, so continuations can
#    part after a few tokens).
python3 -c 'import json,sys; [print(json.dumps({"prompt": json.loads(l)["prompt"]})) for f in sys.argv[1:] for l in open(f) if l.strip()]' \
  testdata/generate/scenarios.jsonl testdata/parity/prompts.jsonl > "$tmp/raw_prompts.jsonl"
for model in tiny-llama3 tiny-gemma3 smollm2 gemma3; do
  case $model in
    tiny-*) gguf="$tmp/$model.gguf"; dir="$tmp/$model"
            "$cache/venv/bin/python" scripts/lm/tiny_gguf.py ${model#tiny-} gguf "$gguf"
            "$cache/venv/bin/python" scripts/lm/gguf_to_onnx.py "$gguf" "$dir" --weights f32 2> /dev/null ;;
    smollm2) gguf="$cache/gguf/SmolLM2-135M-Instruct.Q4_1.gguf"; dir="$cache/models/smollm2-135m-instruct" ;;
    gemma3) gguf="$cache/gguf/gemma-3-270m-q4_k_m.gguf"; dir="$cache/models/gemma-3-270m" ;;
  esac
  stops=$(python3 -c 'import json,sys; print(*json.load(open(sys.argv[1]))["eos_token_ids"])' "$dir/lm.json")
  "$cache/llama-server/bin/python" scripts/llama_generate.py "$gguf" "$tmp/raw_prompts.jsonl" --max-new-tokens 16 \
    --stop $stops 2> /dev/null | head -n -1 > "$tmp/llama_$model.jsonl"
  $bin/generate --quiet --raw --model "$dir" --max-new-tokens 16 "$tmp/raw_prompts.jsonl" > "$tmp/onnx_$model.jsonl"
  python3 - "$tmp/llama_$model.jsonl" "$tmp/onnx_$model.jsonl" $model <<'EOF' || fail "$model disagrees with llama.cpp"
import json, sys
llama = [json.loads(l)["token_ids"] for l in open(sys.argv[1])]
onnx = [json.loads(l)["response_token_ids"] for l in open(sys.argv[2])]
same = sum(a == b for a, b in zip(llama, onnx))
first = sum(a[:4] == b[:4] for a, b in zip(llama, onnx))
print(f"test-api-server: {sys.argv[3]} vs llama.cpp: {same}/{len(llama)} prompts token for token (16 tokens), {first} on the first 4")
assert len(llama) == len(onnx) >= 10
assert same == len(llama) if sys.argv[3].startswith("tiny-") else first >= len(llama) * 3 // 4, (llama, onnx)
EOF
done
echo "api server: ok"
