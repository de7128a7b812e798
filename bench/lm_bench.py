"""The `lm` suite of `make bench`: `generate` on SmolLM2-135M-Instruct (as
`make models` converts it) against the Python reference loop on the same
ONNX model (scripts/lm/reference.py: PyPI onnxruntime + tokenizers, one
prompt at a time with the KV cache), and against decoding without the cache.
Greedy, raw prompts, 50 new tokens; every run must produce the same tokens.

Tokens/s counts new tokens over model time (prefill included, session load
excluded); load time and peak memory are reported apart.
"""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
CACHE = os.environ.get("REFINERY_CACHE") or os.path.join(ROOT, ".cache", "refinery")
MODEL = os.path.join(CACHE, "models", "smollm2-135m-instruct")
PROMPTS = os.path.join(ROOT, "testdata", "parity", "prompts.jsonl")
NEW_TOKENS = 50


def run(cmd, out_path):
    """Runs cmd; returns (wall seconds, peak RSS MB, stderr text)."""
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        err = proc.stderr.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024.0, err


def model_seconds(stderr):
    m = re.search(r"in ([0-9.]+) s of model time", stderr)
    return float(m.group(1))


def token_ids(path, key="response_token_ids"):
    with open(path) as f:
        return [json.loads(line)[key] for line in f]


def take(n, out_dir):
    path = os.path.join(out_dir, f"prompts-{n}.jsonl")
    with open(PROMPTS) as f, open(path, "w") as out:
        for line in f.readlines()[:n]:
            row = json.loads(line)
            row.pop("system_prompt", None)
            out.write(json.dumps(row) + "\n")
    return path


def long_prompts(out_dir):
    """4 prompts of about 160 tokens: five sycophancy scenarios as
    context, then one of them again (the size of a judge prompt)."""
    with open(os.path.join(ROOT, "pipelines", "traits", "sycophancy", "positive.txt")) as f:
        scenarios = [line.strip() for line in f if line.strip()]
    path = os.path.join(out_dir, "prompts-long-4.jsonl")
    with open(path, "w") as out:
        for s in scenarios[:4]:
            out.write(json.dumps({"prompt": " ".join(scenarios[:5]) + " " + s}) + "\n")
    return path


def suite_lm(data_dir):
    if not os.path.exists(os.path.join(MODEL, "model.onnx")):
        sys.exit("bench: lm suite needs the default model; run `make models`")
    out = os.path.join(data_dir, "out")
    os.makedirs(out, exist_ok=True)
    python = os.path.join(CACHE, "venv", "bin", "python")
    prompts = take(16, out)
    few = take(4, out)
    gen = [os.path.join(BIN, "generate"), "--raw", "--max-new-tokens", str(NEW_TOKENS)]
    rows = []

    def ours(name, args, path, prompts_path):
        target = os.path.join(out, path)
        wall, peak, err = run(gen + args + [prompts_path], target)
        ids = token_ids(target)
        tokens = sum(len(t) for t in ids)
        rows.append((name, tokens, model_seconds(err), wall, peak))
        return ids

    def reference(name, args, path, prompts_path):
        target = os.path.join(out, path)
        wall, peak, _ = run([python, os.path.join(ROOT, "scripts", "lm", "reference.py"), MODEL, prompts_path,
                             "--max-new-tokens", str(NEW_TOKENS), *args], target)
        with open(target) as f:
            results = [json.loads(line) for line in f]
        ids = [r["response_token_ids"] for r in results]
        rows.append((name, sum(len(t) for t in ids), sum(r["seconds"] for r in results), wall, peak))
        return ids

    b1 = ours("refinery generate, batch 1", ["--batch-size", "1"], "gen-b1.jsonl", prompts)
    b8 = ours("refinery generate, batch 8", ["--batch-size", "8"], "gen-b8.jsonl", prompts)
    py = reference("python reference loop (onnxruntime)", [], "ref.jsonl", prompts)
    if not (b1 == b8 == py):
        sys.exit("bench: generate and the Python reference disagree on the tokens")
    few_ours = ours("refinery generate, batch 1, 4 prompts", ["--batch-size", "1"], "gen-few.jsonl", few)
    nc = ours("refinery generate --no-kv-cache, batch 1, 4 prompts", ["--batch-size", "1", "--no-kv-cache"],
              "gen-nocache.jsonl", few)
    if nc != few_ours:
        sys.exit("bench: decoding without the cache gave other tokens")
    long = long_prompts(out)
    long_ours = ours("refinery generate, batch 1, 4 prompts of ~160 tokens", ["--batch-size", "1"], "gen-long.jsonl", long)
    long_nc = ours("refinery generate --no-kv-cache, batch 1, 4 prompts of ~160 tokens",
                   ["--batch-size", "1", "--no-kv-cache"], "gen-long-nocache.jsonl", long)
    if long_nc != long_ours:
        sys.exit("bench: decoding without the cache gave other tokens")
    load_wall, load_peak, _ = run([gen[0], "--raw", "--max-new-tokens", "1", take(1, out)], os.path.join(out, "gen-load.jsonl"))

    print(f"\n## lm: SmolLM2-135M-Instruct, greedy, {NEW_TOKENS} new tokens, raw prompts\n")
    print("| command | new tokens | model s | tokens/s | wall s | peak MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, tokens, seconds, wall, peak in rows:
        print(f"| {name} | {tokens} | {seconds:.2f} | {tokens / seconds:.1f} | {wall:.2f} | {peak:.0f} |")
    rate = {name: tokens / seconds for name, tokens, seconds, _, _ in rows}
    print(f"\nbatch 1 / python loop: {rate[rows[0][0]] / rate[rows[2][0]]:.2f}x tokens/s; "
          f"batch 8 / python loop: {rate[rows[1][0]] / rate[rows[2][0]]:.2f}x; "
          f"KV cache / no cache, batch 1: {rate[rows[3][0]] / rate[rows[4][0]]:.1f}x on ~12-token prompts, "
          f"{rate[rows[5][0]] / rate[rows[6][0]]:.1f}x on ~160-token prompts")
    print(f"session load (generate, 1 prompt, 1 token, wall): {load_wall:.2f} s, peak {load_peak:.0f} MB")
    sys.stdout.flush()
