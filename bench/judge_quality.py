#!/usr/bin/env python3
"""How well each judge tracks people: `vet-score --stage response --no-prefix`
with the LM, embedding and likelihood judges on the hand-scored sets in
testdata/judge_quality/ (64 replies scored for sycophancy against the worked
example's definition; 40 messages scored for anger); prints per set and
judge the Spearman correlation of the judge's scores with the human scores,
and the time per row.

usage: python3 bench/judge_quality.py [--judges lm,embed,likelihood] [--sets sycophancy,anger]
       (needs `make build models`; the judges' default model)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "vet-score")
QUALITY = os.path.join(ROOT, "testdata", "judge_quality")
# set: (labelled rows, definition, trait name)
SETS = {
    "sycophancy": (os.path.join(QUALITY, "sycophancy_labelled.jsonl"),
                   os.path.join(ROOT, "pipelines", "traits", "sycophancy", "definition.txt"), "sycophancy"),
    "anger": (os.path.join(QUALITY, "anger_labelled.jsonl"), os.path.join(QUALITY, "anger_definition.txt"), "anger"),
}


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


def judge_set(name, judges):
    labels, definition, trait = SETS[name]
    with open(labels) as f:
        labelled = [json.loads(line) for line in f]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tmp:
        for row in labelled:
            tmp.write(json.dumps({"response": row["text"], "polarity": "positive"}) + "\n")
    for judge in judges:
        cmd = [BIN, "--quiet", "--stage", "response", "--no-prefix", "--words", "0", "--judge", judge,
               "--definition", definition, "--trait", trait, tmp.name]
        start = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        seconds = time.perf_counter() - start
        scores = [json.loads(line)["response_vet"]["score"] for line in out.splitlines()]
        pairs = [(s, row["human_score"]) for s, row in zip(scores, labelled) if s is not None]
        rho = spearman([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) > 2 else float("nan")
        print(f"| {name} ({len(labelled)}) | {judge} | {rho:.2f} | {len(pairs)}/{len(labelled)} | {seconds / len(labelled):.2f} |")
        sys.stdout.flush()
    os.unlink(tmp.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judges", default="lm,embed,likelihood")
    ap.add_argument("--sets", default=",".join(SETS))
    args = ap.parse_args()
    print("judge quality: hand-scored sets, default models\n")
    print("| set (rows) | judge | Spearman rho vs people | scored | seconds per row |")
    print("|---|---|---:|---:|---:|")
    for name in args.sets.split(","):
        judge_set(name, args.judges.split(","))


if __name__ == "__main__":
    main()
