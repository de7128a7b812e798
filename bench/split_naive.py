#!/usr/bin/env python3
"""A per-archetype train/dev/test split with the standard library: what a
user would otherwise write. Reads JSONL, shuffles each stratum with a seeded
random.Random, cuts it by largest-remainder quotas, writes JSONL with a
"split" field. Used by `make bench` as the baseline.
Usage: split_naive.py FILE SEED > split.jsonl"""
import json
import math
import random
import sys
from collections import defaultdict

SPLITS, RATIOS = ("train", "dev", "test"), (0.8, 0.1, 0.1)


def quotas(n):
    exact = [n * r for r in RATIOS]
    sizes = [math.floor(e) for e in exact]
    order = sorted(range(len(RATIOS)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in order[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes


def main(path, seed):
    rows = []
    strata = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                strata[row.get("archetype")].append(len(rows))
                rows.append(row)
    split_of = [None] * len(rows)
    rng = random.Random(seed)
    for key in sorted(strata, key=str):
        members = strata[key]
        rng.shuffle(members)
        start = 0
        for name, size in zip(SPLITS, quotas(len(members))):
            for i in members[start:start + size]:
                split_of[i] = name
            start += size
    out = sys.stdout
    for row, split in zip(rows, split_of):
        row["split"] = split
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
