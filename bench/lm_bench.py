"""The `lm` suite of `make bench`.

1. Side by side with llama.cpp (PyPI llama-cpp-python, in process, 2
   threads, one prompt at a time) on the same GGUF that `make models`
   converts, for SmolLM2-135M-Instruct and the judges' Qwen2.5-Coder-1.5B:
   `generate` at batch 1 and 8 as a ratio of llama.cpp's batch-1 tokens/s,
   peak memory against the model file, session load time, and the physical
   limit (weight bytes read per token over this machine's memory bandwidth,
   measured by reading a large buffer with as many threads as decoding
   uses).
2. `generate` against the Python reference loop on the same ONNX model
   (scripts/lm/reference.py: PyPI onnxruntime + tokenizers) and against
   decoding without the KV cache; every run must produce the same tokens.

Greedy, raw prompts, 50 new tokens at most (a row also ends on the model's
end-of-sequence tokens, on both sides). Tokens/s counts new tokens over
model time (prompt evaluation included, session load excluded).
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
# (title, model directory, GGUF it was converted from)
SIDE_BY_SIDE = [
    ("SmolLM2-135M-Instruct", MODEL, os.path.join(CACHE, "gguf", "SmolLM2-135M-Instruct.Q4_1.gguf")),
    ("Qwen2.5-Coder-1.5B-Instruct (the judges' model)", os.path.join(CACHE, "models", "qwen2.5-coder-1.5b-instruct"),
     os.path.join(CACHE, "gguf", "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf")),
    ("Gemma 3 270M (`scripts/models.py gemma3`)", os.path.join(CACHE, "models", "gemma-3-270m"),
     os.path.join(CACHE, "gguf", "gemma-3-270m-q4_k_m.gguf")),
]

# Bytes a decoding step reads, (1) as stored: every initializer but the rows
# of the embedding table (gathered a row per token) and the rotary tables;
# (2) as ONNX Runtime holds them: it repacks the MatMulNBits weights for its
# kernel at load (a float32 scale and a block sum per 32 weights), so the
# anonymous memory a loaded session holds is what a step reads (the mapped
# embedding table is not in it).
READ_PER_TOKEN = """
import onnx, sys
m = onnx.load(sys.argv[1], load_external_data=False)
total = 0
for t in m.graph.initializer:
    if t.name.startswith(("embed_tokens", "rotary")):
        continue
    ext = {e.key: e.value for e in t.external_data}
    total += int(ext["length"]) if "length" in ext else len(t.raw_data) or t.ByteSize()
print(total)
"""
HELD_PER_TOKEN = """
import re, sys
import onnxruntime as ort
def anon():
    return int(re.search(r"RssAnon:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
options = ort.SessionOptions()
options.intra_op_num_threads = 2
before = anon()
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
print(anon() - before)
"""
# llama.cpp's bytes a token: every tensor of the GGUF but the token
# embeddings, unless they are also the output head (tied).
GGUF_PER_TOKEN = """
import sys
from gguf import GGUFReader
tensors = GGUFReader(sys.argv[1]).tensors
tied = not any(t.name == "output.weight" for t in tensors)
print(sum(int(t.n_bytes) for t in tensors if tied or t.name != "token_embd.weight"))
"""
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
    return wall, peak_mb(usage), err


def peak_mb(usage):
    """A child's peak resident memory (wait4's ru_maxrss, in KiB) in MB of
    10^6 bytes, the unit the suites count file sizes in."""
    return usage.ru_maxrss * 1024 / 1e6


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


def scenarios(n, out_dir):
    """The first n positive scenarios of the bundled traits, to continue (what
    `generate` spends its time on in a refinement loop)."""
    path = os.path.join(out_dir, f"scenarios-{n}.jsonl")
    rows = []
    for trait in sorted(os.listdir(os.path.join(ROOT, "pipelines", "traits"))):
        with open(os.path.join(ROOT, "pipelines", "traits", trait, "positive.txt")) as f:
            rows += [line.strip() for line in f if line.strip()]
    with open(path, "w") as out:
        for text in rows[:n]:
            out.write(json.dumps({"prompt": text}) + "\n")
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


# Run in a child process: a process's peak memory is inherited by the
# children it forks (Linux copies the high-water mark with the address space),
# so the buffer, allocated here, would floor every peak measured after.
BANDWIDTH = """
import glob, threading, time
import numpy as np
units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
caches = [0]
for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
    text = open(path).read().strip()
    caches.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
a = np.ones(max(1 << 30, 2 * max(caches)) // 8, dtype=np.uint64)
parts = np.array_split(a, THREADS)
best = 0.0
for _ in range(5):
    readers = [threading.Thread(target=np.bitwise_or.reduce, args=(part,)) for part in parts]
    start = time.perf_counter()
    for r in readers:
        r.start()
    for r in readers:
        r.join()
    best = max(best, a.nbytes / (time.perf_counter() - start) / 1e9)
print(best)
"""


def memory_bandwidth(threads=2):
    """GB/s read from memory by `threads` threads at once (numpy reductions,
    which release the GIL), the best of 5: what decoding at batch 1, which
    reads every weight once per token on the same threads, is bound by when
    the weights do not fit in the CPU's caches. The buffer is 1 GiB or twice
    the last-level cache, whichever is larger (some server CPUs have an L3
    of several hundred MB). One thread reads about half as fast here (16-18
    GB/s), and a one-thread copy reads 12 GB/s (23-24 counting its writes):
    decoding runs on two threads, so neither is its bound."""
    python = os.path.join(CACHE, "venv", "bin", "python")
    out = subprocess.run([python, "-c", BANDWIDTH.replace("THREADS", str(threads))], check=True,
                         capture_output=True, text=True).stdout
    return float(out)


def weight_bytes(model_dir):
    return sum(os.path.getsize(os.path.join(model_dir, f)) for f in os.listdir(model_dir) if f.startswith("model.onnx"))


def bytes_per_token(script, path):
    """MB a batch-1 step reads, by one of the scripts above, run in the venv."""
    python = os.path.join(CACHE, "venv", "bin", "python")
    out = subprocess.run([python, "-c", script, path], check=True, capture_output=True, text=True).stdout
    return int(out) / 1e6


def side_by_side(out, prompts):
    """generate vs llama.cpp on each model of SIDE_BY_SIDE that is fetched."""
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "llama_server.py"), "install"], check=True)
    llama_python = os.path.join(CACHE, "llama-server", "bin", "python")
    bandwidth = memory_bandwidth()
    print(f"\n## lm: generate vs llama.cpp (llama-cpp-python 0.3.36, in process), greedy, up to {NEW_TOKENS} new "
          f"tokens, 16 scenarios continued raw, 2 cores; memory bandwidth {bandwidth:.1f} GB/s (2 threads reading)\n")
    # The memory target is the model file plus the KV cache: generate
    # says how large its cache grew, and the last column leaves it out.
    print("| model | command | new tokens | model s | tokens/s | vs llama.cpp batch 1 | load s | peak MB | "
          "peak / model file | KV cache MB | (peak - KV cache) / model file |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    limits = []
    for title, model_dir, gguf in SIDE_BY_SIDE:
        if not (os.path.exists(os.path.join(model_dir, "model.onnx")) and os.path.exists(gguf)):
            print(f"| {title} | not fetched (`make models`) | | | | | | | | | |")
            continue
        with open(os.path.join(model_dir, "lm.json")) as f:
            stops = [str(t) for t in json.load(f)["eos_token_ids"]]
        size_mb = weight_bytes(model_dir) / 1e6
        target = os.path.join(out, "llama-cpp.jsonl")
        wall, peak, _ = run([llama_python, os.path.join(ROOT, "scripts", "llama_generate.py"), gguf, prompts,
                             "--max-new-tokens", str(NEW_TOKENS), "--threads", "2", "--stop", *stops], target)
        with open(target) as f:
            results = [json.loads(line) for line in f]
        per_prompt = results[:-1]
        if len(per_prompt) != 16 or not all(0 <= r["tokens"] <= NEW_TOKENS for r in per_prompt) \
                or sum(r["tokens"] for r in per_prompt) < 8 * NEW_TOKENS:
            sys.exit(f"bench: llama.cpp did not continue the 16 scenarios: {per_prompt}")
        base = sum(r["tokens"] for r in per_prompt) / sum(r["seconds"] for r in per_prompt)
        print(f"| {title} | llama.cpp, batch 1 | {sum(r['tokens'] for r in per_prompt)} | "
              f"{sum(r['seconds'] for r in per_prompt):.2f} | {base:.1f} | 1.00x | {results[-1]['load_seconds']:.2f} | "
              f"{peak:.0f} | {peak / (os.path.getsize(gguf) / 1e6):.2f} (GGUF) | in the peak | |")
        for batch in (1, 8):
            target = os.path.join(out, f"gen-side-b{batch}.jsonl")
            cmd = [os.path.join(BIN, "generate"), "--raw", "--max-new-tokens", str(NEW_TOKENS), "--model", model_dir,
                   "--threads", "2", "--batch-size", str(batch), prompts]
            wall, peak, err = run(cmd, target)
            ids = token_ids(target)
            if len(ids) != 16 or sum(len(t) for t in ids) < 8 * NEW_TOKENS:
                sys.exit("bench: generate did not continue the 16 scenarios")
            tokens, seconds = sum(len(t) for t in ids), model_seconds(err)
            load = float(re.search(r"loaded in ([0-9.]+) s", err).group(1)) if "loaded in" in err else wall - seconds
            kv = float(re.search(r"KV cache at its largest ([0-9.]+) MB", err).group(1))
            print(f"| {title} | refinery generate, batch {batch} | {tokens} | {seconds:.2f} | {tokens / seconds:.1f} | "
                  f"{tokens / seconds / base:.2f}x | {load:.2f} | {peak:.0f} | {peak / size_mb:.2f} | {kv:.1f} | "
                  f"{(peak - kv) / size_mb:.2f} |")
            if batch == 1:
                onnx_path = os.path.join(model_dir, "model.onnx")
                limits.append((title, bytes_per_token(READ_PER_TOKEN, onnx_path),
                               bytes_per_token(HELD_PER_TOKEN, onnx_path), tokens / seconds,
                               bytes_per_token(GGUF_PER_TOKEN, gguf), base))
    print()
    for title, stored_mb, held_mb, ours, gguf_mb, base in limits:
        ceiling = bandwidth * 1e3 / held_mb
        print(f"{title}: a batch-1 step reads {held_mb:.0f} MB of weights as ONNX Runtime holds them "
              f"({stored_mb:.0f} MB stored; embedding rows aside) -> at most {ceiling:.0f} tokens/s at "
              f"{bandwidth:.1f} GB/s; generate reaches {ours / ceiling:.0%} of that ({ours * held_mb / 1e3:.1f} GB/s). "
              f"llama.cpp reads {gguf_mb:.0f} MB a token of its own blocks: {base * gguf_mb / 1e3:.1f} GB/s, "
              f"{base * gguf_mb / 1e3 / bandwidth:.0%} of the bandwidth")
    sys.stdout.flush()


def check_same_start(without, with_cache):
    """Decoding without the cache runs each token through the prompt-sized
    kernels instead of the one-token ones; with 8-bit activations (4-bit
    models) the last digits differ and long continuations can part, so the
    first 8 tokens must agree and the rest is reported."""
    if any(a[:8] != b[:8] for a, b in zip(without, with_cache)):
        sys.exit("bench: decoding without the cache gave other first tokens")
    print(f"(without the cache: {sum(a == b for a, b in zip(without, with_cache))}/{len(without)} continuations "
          "identical in full)")


def suite_lm(data_dir):
    if not os.path.exists(os.path.join(MODEL, "model.onnx")):
        sys.exit("bench: lm suite needs the default model; run `make models`")
    out = os.path.join(data_dir, "out")
    os.makedirs(out, exist_ok=True)
    side_by_side(out, scenarios(16, out))
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
    check_same_start(nc, few_ours)
    long = long_prompts(out)
    long_ours = ours("refinery generate, batch 1, 4 prompts of ~160 tokens", ["--batch-size", "1"], "gen-long.jsonl", long)
    long_nc = ours("refinery generate --no-kv-cache, batch 1, 4 prompts of ~160 tokens",
                   ["--batch-size", "1", "--no-kv-cache"], "gen-long-nocache.jsonl", long)
    check_same_start(long_nc, long_ours)
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
