"""The `judges` suite of `make bench`: rows per second of `vet-score` for each
judge and stage on the worked example trait (16 pairs; responses from
`generate`), and `first-tokens`, on the default models; the default judge
side by side with the same judge model on llama.cpp (llama-cpp-python's
server on the same GGUF, `vet-score --backend openai`); then the
judge-quality check (bench/judge_quality.py)."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import measure  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
TRAIT = os.path.join(ROOT, "pipelines", "traits", "sycophancy")


def timed(cmd, out_path):
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - start


def suite_judges(data_dir):
    out = os.path.join(data_dir, "out")
    os.makedirs(out, exist_ok=True)
    pos, neg, definition = (os.path.join(TRAIT, f) for f in ("positive.txt", "negative.txt", "definition.txt"))
    responses = os.path.join(out, "judge-responses.jsonl")
    timed([os.path.join(BIN, "generate"), "--quiet", "--raw", "--positive", pos, "--negative", neg], responses)
    rows = sum(1 for _ in open(responses))
    vet = [os.path.join(BIN, "vet-score"), "--quiet", "--definition", definition]
    print(f"\n## judges: worked example (sycophancy, {rows} rows), default models, 2 cores\n")
    print("| command | batch | seconds (incl. load) | rows/s |")
    print("|---|---:|---:|---:|")
    runs = [
        ("vet-score --judge likelihood --stage scenario",
         vet + ["--judge", "likelihood", "--stage", "scenario", "--positive", pos, "--negative", neg], [1, 8]),
        ("vet-score --judge likelihood --stage response", vet + ["--judge", "likelihood", "--stage", "response", responses], [1, 8]),
        ("vet-score --judge lm --stage scenario",
         vet + ["--judge", "lm", "--stage", "scenario", "--positive", pos, "--negative", neg], [1, 4, 8]),
        ("vet-score --judge embed --stage scenario",
         vet + ["--judge", "embed", "--stage", "scenario", "--positive", pos, "--negative", neg], [8, 32]),
        ("vet-score --judge embed --stage response", vet + ["--judge", "embed", "--stage", "response", responses], [8, 32]),
        ("first-tokens (3 judge calls per row)", [os.path.join(BIN, "first-tokens"), "--quiet", "--definition", definition, responses], [8]),
    ]
    # Every batch size tried is printed: the judges' rows are long enough
    # that a batch of one already fills both cores, and the table shows it.
    for name, cmd, batches in runs:
        for batch in batches:
            seconds = timed(cmd + ["--batch-size", str(batch)], os.path.join(out, "judge-out.jsonl"))
            print(f"| {name} | {batch} | {seconds:.1f} | {rows / seconds:.2f} |")
            sys.stdout.flush()
    side_by_side_llama_cpp(out, vet, pos, neg, responses, rows)
    print()
    # The digit judge on the 1.5B model would take a quarter of an hour here.
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "judge_quality.py"), "--judges", "embed,likelihood"],
                   check=True)


JUDGE_ALIAS = "qwen2.5-coder-1.5b-instruct"
PORT = "8191"


def scored(path, stage):
    with open(path) as f:
        return sum(json.loads(line)[f"{stage}_vet"]["score"] is not None for line in f)


def server_peak_mb():
    """The llama.cpp server's peak resident memory so far (VmHWM), in MB."""
    cache = os.environ.get("REFINERY_CACHE") or os.path.join(ROOT, ".cache", "refinery")
    pid = open(os.path.join(cache, f"llama-server-{PORT}.pid")).read().strip()
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def side_by_side_llama_cpp(out, vet, pos, neg, responses, rows):
    """The default judge (likelihood, Qwen2.5-Coder-1.5B, 4-bit, ONNX Runtime)
    against the LM judge on llama.cpp serving the same GGUF: the way a user
    would judge with this model without refinery's local backend. Load time
    is timed apart (a run over no rows) and left out of rows/s for both: the
    server loads before the clock starts."""
    llama = os.path.join(ROOT, "scripts", "llama_server.py")
    url = subprocess.run([sys.executable, llama, "start", PORT, "judge"], check=True,
                         capture_output=True, text=True).stdout.strip()
    empty = os.path.join(out, "judge-empty.jsonl")
    open(empty, "w").close()
    api = ["--backend", "openai", "--base-url", url, "--api-model", JUDGE_ALIAS, "--raw", "--concurrency", "2"]
    stages = {"scenario": ["--positive", pos, "--negative", neg], "response": [responses]}
    print(f"\n## judges: the default judge vs the same model on llama.cpp ({rows} rows per stage, 2 cores)\n")
    print("| stage | command | load s | judging s | rows/s | peak MB (server for llama.cpp) | rows/s vs llama.cpp |")
    print("|---|---|---:|---:|---:|---:|---:|")
    try:
        for stage, inputs in stages.items():
            results = []
            for name, extra in (("llama.cpp server, `--backend openai --raw` (LM judge)", api),
                                ("refinery, default (`--judge likelihood`)", [])):
                load = 0.0 if extra else measure(vet + ["--stage", stage, empty], os.path.join(out, "judge-out.jsonl"))[0]
                seconds, peak, code = measure(vet + ["--stage", stage] + extra + inputs, os.path.join(out, "judge-out.jsonl"))
                got = scored(os.path.join(out, "judge-out.jsonl"), stage)
                if code != 0 or got != rows:
                    sys.exit(f"bench: {name} ({stage}) exited {code} with {got}/{rows} rows scored")
                if extra:
                    peak = server_peak_mb()
                results.append((name, load, seconds - load, rows / (seconds - load), peak))
            base = results[0][3]
            for name, load, judging, rate, peak in results:
                print(f"| {stage} | {name} | {load:.1f} | {judging:.1f} | {rate:.2f} | {peak:.0f} | {rate / base:.2f}x |")
                sys.stdout.flush()
    finally:
        subprocess.run([sys.executable, llama, "stop", PORT], check=False)
