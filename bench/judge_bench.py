"""The `judges` suite of `make bench`: rows per second of `vet-score` for each
judge and stage on the worked example trait (16 pairs; responses from
`generate`), and `first-tokens`, on the default models; then the
judge-quality check (bench/judge_quality.py)."""
import os
import subprocess
import sys
import time

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
         vet + ["--judge", "likelihood", "--stage", "scenario", "--positive", pos, "--negative", neg], [8]),
        ("vet-score --judge likelihood --stage response", vet + ["--judge", "likelihood", "--stage", "response", responses], [8]),
        ("vet-score --judge lm --stage scenario",
         vet + ["--judge", "lm", "--stage", "scenario", "--positive", pos, "--negative", neg], [8]),
        ("vet-score --judge embed --stage scenario",
         vet + ["--judge", "embed", "--stage", "scenario", "--positive", pos, "--negative", neg], [8, 32]),
        ("vet-score --judge embed --stage response", vet + ["--judge", "embed", "--stage", "response", responses], [8, 32]),
        ("first-tokens (3 judge calls per row)", [os.path.join(BIN, "first-tokens"), "--quiet", "--definition", definition, responses], [8]),
    ]
    for name, cmd, batches in runs:
        best = None
        for batch in batches:
            seconds = timed(cmd + ["--batch-size", str(batch)], os.path.join(out, "judge-out.jsonl"))
            if best is None or seconds < best[1]:
                best = (batch, seconds)
        print(f"| {name} | {best[0]} | {best[1]:.1f} | {rows / best[1]:.2f} |")
        sys.stdout.flush()
    print()
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "judge_quality.py")], check=True)
