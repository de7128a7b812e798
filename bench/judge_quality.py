#!/usr/bin/env python3
"""How well each judge tracks people: `vet-score --stage response --no-prefix`
with the LM, embedding and likelihood judges on the 64 hand-scored replies
in testdata/judge_quality/, against the worked example's definition; prints
the Spearman correlation of each judge's scores with the human scores, and the
time per row.

usage: python3 bench/judge_quality.py   (needs `make build models`)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "vet-score")
LABELS = os.path.join(ROOT, "testdata", "judge_quality", "sycophancy_labelled.jsonl")
DEFINITION = os.path.join(ROOT, "pipelines", "traits", "sycophancy", "definition.txt")


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb)


def main():
    with open(LABELS) as f:
        labelled = [json.loads(line) for line in f]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tmp:
        for row in labelled:
            tmp.write(json.dumps({"response": row["text"], "polarity": "positive"}) + "\n")
    print(f"judge quality: {len(labelled)} hand-scored replies (sycophancy)\n")
    print("| judge | Spearman rho vs people | scored | seconds per row |")
    print("|---|---:|---:|---:|")
    for judge in ("lm", "embed", "likelihood"):
        cmd = [BIN, "--quiet", "--stage", "response", "--no-prefix", "--words", "0", "--judge", judge,
               "--definition", DEFINITION, "--trait", "sycophancy", tmp.name]
        start = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        seconds = time.perf_counter() - start
        scores = [json.loads(line)["response_vet"]["score"] for line in out.splitlines()]
        pairs = [(s, row["human_score"]) for s, row in zip(scores, labelled) if s is not None]
        rho = spearman([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) > 2 else float("nan")
        print(f"| {judge} | {rho:.2f} | {len(pairs)}/{len(labelled)} | {seconds / len(labelled):.2f} |")
        sys.stdout.flush()
    os.unlink(tmp.name)


if __name__ == "__main__":
    main()
