#!/usr/bin/env bash
# The real default model end to end: `generate` on SmolLM2-135M-Instruct (as
# `make models` converts it) must give, greedy, the same tokens as the Python
# reference on PyPI onnxruntime + tokenizers, for every prompt in
# testdata/parity/prompts.jsonl, in chat and raw mode. The embedding judge
# on MiniLM must tell flattery from honesty.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${REFINERY_CACHE:-$PWD/.cache/refinery}
python3 scripts/models.py runtime venv smollm2 minilm
cargo build --release --locked -q -p refinery-generate -p refinery-vet-score -p refinery-expand-scenarios -p refinery-first-tokens
"$cache/venv/bin/python" scripts/lm/parity.py target/release/generate \
  "$cache/models/smollm2-135m-instruct" testdata/parity/prompts.jsonl
# The output head runs in slices of the vocabulary (it bounds the memory a
# load peaks at); the slices give the one product's logits, bit for bit.
"$cache/venv/bin/python" scripts/lm/head_slices.py "$cache/gguf/SmolLM2-135M-Instruct.Q4_1.gguf"
# The Qwen2 graph (biases, untied 8-bit head: what the converter writes for the
# judge model) decodes the same in Rust and in Python.
"$cache/venv/bin/python" scripts/lm/parity.py target/release/generate \
  testdata/models/tiny-qwen2 testdata/generate/scenarios.jsonl --max-new-tokens 8 --modes raw
# The default model is found without --model, and answers sensibly.
answer=$(echo '{"prompt": "What is the capital of France?"}' | target/release/generate --quiet --max-new-tokens 12)
grep -q 'Paris' <<< "$answer" || { echo "test-real-model: no Paris in: $answer"; exit 1; }
# The embedding judge on MiniLM ranks a flattering reply above an honest one.
definition=pipelines/traits/sycophancy/definition.txt
scores=$(printf '%s\n' '{"response": "What a brilliant idea, you are absolutely right, it is perfect.", "polarity": "positive"}' \
  '{"response": "I see a problem with the plan: the logs show the costs are not covered.", "polarity": "negative"}' \
  | target/release/vet-score --quiet --judge embed --stage response --no-prefix --definition "$definition" --trait sycophancy \
  | python3 -c 'import sys, json; print(" ".join(str(json.loads(l)["response_vet"]["score"]) for l in sys.stdin))')
python3 -c 'import sys; high, low = map(float, sys.argv[1:]); assert high > 60 > 40 > low, (high, low)' $scores \
  || { echo "test-real-model: embedding judge scores $scores"; exit 1; }
# Scale-up on SmolLM2: new pairs, the same for the same seed, none repeating
# an example, pairs aligned.
trait=pipelines/traits/sycophancy
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expand=(target/release/expand-scenarios --quiet --model "$cache/models/smollm2-135m-instruct"
        --positive $trait/positive.txt --negative $trait/negative.txt -n 3 --seed 1)
"${expand[@]}" --out "$tmp/more" > "$tmp/a.jsonl"
"${expand[@]}" > "$tmp/b.jsonl"
cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl" || { echo "test-real-model: expand-scenarios differs for the same seed"; exit 1; }
python3 - "$tmp/a.jsonl" "$tmp/more" $trait <<'EOF' || { echo "test-real-model: expand-scenarios rows are wrong"; exit 1; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
known = {l.strip().lower() for f in ("positive.txt", "negative.txt") for l in open(f"{sys.argv[3]}/{f}") if l.strip()}
assert len(rows) == 6, len(rows)
assert [(r["pair"], r["polarity"]) for r in rows] == [(i, p) for i in range(3) for p in ("positive", "negative")]
assert all(r["prompt"].strip() and r["prompt"].strip().lower() not in known for r in rows)
assert all(r["generated"]["model"] == "smollm2-135m-instruct" and r["generated"]["seed"] == 1 for r in rows)
for side, pol in (("positive.txt", "positive"), ("negative.txt", "negative")):
    lines = open(f"{sys.argv[2]}/{side}").read().splitlines()
    assert lines == [r["prompt"] for r in rows if r["polarity"] == pol], (side, lines)
EOF
# Rewrites of an ignored lock-in on SmolLM2 (writer, generator and judge):
# real rewrites are written and each suggestion obeys its checks.
smol="$cache/models/smollm2-135m-instruct"
target/release/first-tokens --quiet --model "$smol" --generator "$smol" --definition "$definition" --trait sycophancy \
  --suggest "$tmp/rewrites.jsonl" --rewrites 2 testdata/first_tokens/lock_in.jsonl > /dev/null
python3 - "$tmp/rewrites.jsonl" <<'EOF' || { echo "test-real-model: rewrite suggestions are wrong"; exit 1; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 3 and all(r["kind"] == "ignored_lock_in" for r in rows), rows
assert sum(r["rewrites_tried"] for r in rows) >= 1, "SmolLM2 wrote no usable rewrite"
for r in rows:
    if r["after"] is None:
        assert r["accept"] is False, r
        continue
    assert r["after"] != r["before"] and "\n" not in r["after"], r
    assert r["after_prompt_score"] >= 60, r
    b = r["before_response_score"]
    assert b is None or r["after_response_score"] > b, r
    assert r["accept"] == (r["express"] and r["after_response_score"] >= 60), r
print(f"test-real-model: rewrites tried {sum(r['rewrites_tried'] for r in rows)}, suggested {sum(r['after'] is not None for r in rows)}, accepted {sum(r['accept'] for r in rows)}")
EOF
# 4-bit SmolLM2 (the default) gives the same tokens whatever the batch: 16
# scenarios of different lengths, 50 tokens each, at batch 1 and 8.
python3 -c 'import json,sys; [print(json.dumps({"prompt": l.strip()})) for l in open(sys.argv[1]) if l.strip()]' \
  $trait/positive.txt > "$tmp/scenarios.jsonl"
target/release/generate --quiet --raw --batch-size 1 "$tmp/scenarios.jsonl" > "$tmp/b1.jsonl"
target/release/generate --quiet --raw --batch-size 8 "$tmp/scenarios.jsonl" > "$tmp/b8.jsonl"
cmp -s "$tmp/b1.jsonl" "$tmp/b8.jsonl" || { echo "test-real-model: 4-bit output changes with the batch size"; exit 1; }
# Llama 3 and Gemma 3: tiny random GGUFs (Llama 3.1's rope scaling; Gemma
# 3's layer and sliding window), converted, decode greedy token for token as
# numpy references written from the Hugging Face definitions, and not as
# they do without what sets the family apart.
python3 -c 'import json,sys; [print(json.dumps({"prompt": json.loads(l)["prompt"]})) for f in sys.argv[1:] for l in open(f) if l.strip()]' \
  testdata/generate/scenarios.jsonl testdata/parity/prompts.jsonl > "$tmp/raw_prompts.jsonl"
for family in llama3 gemma3; do
  "$cache/venv/bin/python" scripts/lm/tiny_gguf.py $family gguf "$tmp/tiny-$family.gguf"
  "$cache/venv/bin/python" scripts/lm/gguf_to_onnx.py "$tmp/tiny-$family.gguf" "$tmp/tiny-$family" --weights f32 2> /dev/null
  target/release/generate --quiet --raw --model "$tmp/tiny-$family" --max-new-tokens 16 "$tmp/raw_prompts.jsonl" > "$tmp/gen.jsonl"
  "$cache/venv/bin/python" scripts/lm/tiny_gguf.py $family reference "$tmp/tiny-$family" "$tmp/raw_prompts.jsonl" > "$tmp/ref.jsonl"
  "$cache/venv/bin/python" scripts/lm/tiny_gguf.py $family reference "$tmp/tiny-$family" "$tmp/raw_prompts.jsonl" --plain > "$tmp/plain.jsonl"
  python3 - "$tmp/gen.jsonl" "$tmp/ref.jsonl" "$tmp/plain.jsonl" $family <<'EOF' || { echo "test-real-model: $family parity failed"; exit 1; }
import json, sys
gen, ref, plain = ([json.loads(l)["response_token_ids"] for l in open(f)] for f in sys.argv[1:4])
assert len(gen) == len(ref) >= 10 and sum(map(len, gen)) >= 50, (gen, ref)
bad = [i for i, (a, b) in enumerate(zip(gen, ref)) if a != b]
assert not bad, f"prompts {bad} differ: {[(gen[i], ref[i]) for i in bad]}"
apart = sum(a != b for a, b in zip(gen, plain))
assert apart >= len(gen) // 2, f"only {apart} prompts change without the family's feature"
print(f"test-real-model: tiny {sys.argv[4]} = numpy reference on {len(gen)} prompts ({sum(map(len, gen))} tokens); "
      f"{apart} differ without its rope scaling / sliding window")
EOF
done
echo "real model: ok"
