#!/usr/bin/env python3
"""How well each judge separates a trait's positive scenarios from its
negative ones: `vet-score --stage scenario` with each judge on trait
directories in trait-interp's layout (positive.txt, negative.txt,
definition.txt), printing per trait and judge the AUC of positive vs negative
scores, the share of rows with the verdict their file intends, the pairs
ordered right, and rows per second.

usage: python3 bench/trait_separation.py [--judges lm,embed,likelihood] [--model DIR] TRAIT_DIR...
       (needs `make build models`; default: the worked example; --model is passed
       to the lm and likelihood judges, default: the judges' default model)
"""
import argparse
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "vet-score")


def auc(pos, neg):
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def judge_trait(judge, trait_dir, model):
    cmd = [BIN, "--quiet", "--stage", "scenario", "--judge", judge,
           *(["--model", model] if model and judge != "embed" else []),
           "--definition", os.path.join(trait_dir, "definition.txt"),
           "--positive", os.path.join(trait_dir, "positive.txt"),
           "--negative", os.path.join(trait_dir, "negative.txt")]
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in out.splitlines()]
    by = {"positive": {}, "negative": {}}
    for r in rows:
        by[r["polarity"]][r["pair"]] = r["scenario_vet"]
    pos = [v["score"] for v in by["positive"].values() if v["score"] is not None]
    neg = [v["score"] for v in by["negative"].values() if v["score"] is not None]
    intended = sum(v["verdict"] == "pass" for side in by.values() for v in side.values())
    ordered = sum(1 for k in by["positive"] if k in by["negative"]
                  and (by["positive"][k]["score"] or 0) > (by["negative"][k]["score"] or 0))
    return {"auc": auc(pos, neg) if pos and neg else float("nan"), "intended": intended / len(rows),
            "pos_pass": sum(v["verdict"] == "pass" for v in by["positive"].values()) / max(1, len(by["positive"])),
            "neg_pass": sum(v["verdict"] == "pass" for v in by["negative"].values()) / max(1, len(by["negative"])),
            "ordered": f"{ordered}/{len(by['positive'])}", "rows_per_s": len(rows) / seconds}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judges", default="lm,embed,likelihood")
    ap.add_argument("--model")
    ap.add_argument("traits", nargs="*", default=[os.path.join(ROOT, "pipelines", "traits", "sycophancy")])
    args = ap.parse_args()
    print("| trait | judge | AUC | intended verdict | positives pass | negatives pass | pairs ordered | rows/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for trait in args.traits:
        for judge in args.judges.split(","):
            r = judge_trait(judge, trait, args.model)
            name = os.path.join(os.path.basename(os.path.dirname(trait.rstrip("/"))), os.path.basename(trait.rstrip("/")))
            print(f"| {name} | {judge} | {r['auc']:.2f} | {r['intended']:.0%} | {r['pos_pass']:.0%} | "
                  f"{r['neg_pass']:.0%} | {r['ordered']} | {r['rows_per_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
