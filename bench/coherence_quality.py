#!/usr/bin/env python3
"""How well `vet-score --coherence` tells coherent responses from incoherent
ones: the 40 hand-written completions in testdata/coherence/labelled.jsonl
(20 coherent; 20 incoherent: fragments, function-word soup, word salad,
template leaks, drift), scored by the coherence judge on the judges' model.
Prints the AUC of the coherence score (coherent above incoherent), and at the
--min-coherence threshold the share of coherent responses kept and of
incoherent ones caught (exact signals included).

usage: python3 bench/coherence_quality.py [--model DIR] [--min-coherence 20]
       (needs `make build models`)
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "vet-score")
DATA = os.path.join(ROOT, "testdata", "coherence", "labelled.jsonl")
DEFINITION = os.path.join(ROOT, "pipelines", "traits", "sycophancy", "definition.txt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--min-coherence", default="20")
    args = ap.parse_args()
    cmd = [BIN, "--quiet", "--stage", "response", "--coherence", "--min-coherence", args.min_coherence,
           "--definition", DEFINITION, DATA]
    if args.model:
        cmd += ["--model", args.model]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    good = [r["coherence"] for r in rows if r["coherent"]]
    bad = [r["coherence"] for r in rows if not r["coherent"]]
    pairs = [(g["score"], b["score"]) for g in good for b in bad]
    auc = sum((g > b) + 0.5 * (g == b) for g, b in pairs) / len(pairs)
    kept = sum(g["verdict"] == "coherent" for g in good)
    caught = sum(b["verdict"] == "incoherent" for b in bad)
    print(f"coherence judge: AUC {auc:.2f} over {len(good)} coherent / {len(bad)} incoherent responses; "
          f"at --min-coherence {args.min_coherence}: {kept}/{len(good)} coherent kept, "
          f"{caught}/{len(bad)} incoherent caught")


if __name__ == "__main__":
    sys.exit(main())
