#!/usr/bin/env python3
"""How well each judge tracks people on text nobody here wrote: GoEmotions
(Demszky et al., 2020) comments, with Google's sentiment groups as a coarse
valence label (+1 positive, 0 ambiguous or neutral, -1 negative), scored by
`vet-score --stage response --no-prefix` against a valence definition
(testdata/judge_quality/valence_definition.txt). Prints the Spearman
correlation of each judge's scores with the label, and VADER's (a plain
sentiment lexicon, what a user might reach for) on the same rows.

The sample is seeded: N comments from each group, taking only comments whose
labels all fall in one group (so the label is not a tie-break).

usage: python3 bench/goemotions_valence.py GOEMOTIONS_DEV_TSV [--per-group N] [--judges likelihood,embed]
       (the dev split: three tab-separated columns, text, label ids, comment id;
       labels.txt, the label names in id order, beside it;
       needs `make build models`; VADER is pip-installed into the project cache once)
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from judge_quality import spearman  # noqa: E402

BIN = os.path.join(ROOT, "target", "release", "vet-score")
DEFINITION = os.path.join(ROOT, "testdata", "judge_quality", "valence_definition.txt")
CACHE = os.environ.get("REFINERY_CACHE") or os.path.join(ROOT, ".cache", "refinery")
VADER_DIR = os.path.join(CACHE, "bench-vader")

# Google's sentiment groups (the names in labels.txt, beside dev.tsv).
POSITIVE = {"amusement", "excitement", "joy", "love", "desire", "optimism", "caring", "pride",
            "admiration", "gratitude", "relief", "approval"}
NEGATIVE = {"fear", "nervousness", "remorse", "embarrassment", "disappointment", "sadness", "grief",
            "disgust", "anger", "annoyance", "disapproval"}
# realization, surprise, curiosity, confusion (ambiguous) and neutral: 0.


def valence(names):
    """+1, 0 or -1 when every label is in one group, else None."""
    groups = {1 if n in POSITIVE else -1 if n in NEGATIVE else 0 for n in names}
    return groups.pop() if len(groups) == 1 else None


def sample(path, per_group, seed=0):
    with open(os.path.join(os.path.dirname(path), "labels.txt"), encoding="utf-8") as f:
        names = [line.strip() for line in f]
    by = {1: [], 0: [], -1: []}
    with open(path, encoding="utf-8") as f:
        for line in f:
            text, labels, _ = line.rstrip("\n").split("\t")
            v = valence(names[int(x)] for x in labels.split(","))
            if v is not None:
                by[v].append(text)
    rng = random.Random(seed)
    rows = []
    for v, texts in by.items():
        rows += [(t, v) for t in rng.sample(texts, per_group)]
    rng.shuffle(rows)
    return rows


def vader_scores(texts):
    if not os.path.exists(os.path.join(VADER_DIR, "vaderSentiment")):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", VADER_DIR,
                        "vaderSentiment==3.3.2", "--no-deps", "--root-user-action=ignore"], check=True)
    sys.path.insert(0, VADER_DIR)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return [analyzer.polarity_scores(t)["compound"] for t in texts]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dev_tsv")
    ap.add_argument("--per-group", type=int, default=50)
    ap.add_argument("--judges", default="likelihood,embed")
    args = ap.parse_args()
    rows = sample(args.dev_tsv, args.per_group)
    labels = [v for _, v in rows]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tmp:
        for text, _ in rows:
            tmp.write(json.dumps({"response": text, "polarity": "positive"}) + "\n")
    print(f"GoEmotions valence: {len(rows)} comments ({args.per_group} positive, {args.per_group} ambiguous "
          f"or neutral, {args.per_group} negative; seed 0)\n")
    print("| judge | Spearman rho vs the sentiment group | scored | seconds per row |")
    print("|---|---:|---:|---:|")
    for judge in args.judges.split(","):
        cmd = [BIN, "--quiet", "--stage", "response", "--no-prefix", "--words", "0", "--judge", judge,
               "--definition", DEFINITION, "--trait", "valence", tmp.name]
        start = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        seconds = time.perf_counter() - start
        scores = [json.loads(line)["response_vet"]["score"] for line in out.splitlines()]
        pairs = [(s, v) for s, v in zip(scores, labels) if s is not None]
        rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
        print(f"| {judge} | {rho:.2f} | {len(pairs)}/{len(rows)} | {seconds / len(rows):.2f} |")
        sys.stdout.flush()
    os.unlink(tmp.name)
    vader = vader_scores([t for t, _ in rows])
    print(f"| VADER compound (lexicon, for comparison) | {spearman(vader, labels):.2f} | {len(rows)}/{len(rows)} | - |")


if __name__ == "__main__":
    main()
