#!/usr/bin/env python3
"""The aggregates `stats` reports, computed with the standard library only:
what a user would otherwise write. Used by `make bench` as the baseline."""
import json
import math
import sys
from collections import Counter

AXES = {"valence": (-1.0, 1.0), "intimacy": (-1.0, 1.0), "tension": (-1.0, 1.0), "confidence": (0.0, 1.0)}


def main(path):
    acc = {a: {"n": 0, "sum": 0.0, "sq": 0.0, "min": math.inf, "max": -math.inf, "bins": [0] * 10} for a in AXES}
    base = Counter()
    tags, archetypes, sources = Counter(), Counter(), Counter()
    rows = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            rows += 1
            for a, (lo, hi) in AXES.items():
                x = r.get(a)
                if isinstance(x, (int, float)):
                    s = acc[a]
                    s["n"] += 1
                    s["sum"] += x
                    s["sq"] += x * x
                    s["min"] = min(s["min"], x)
                    s["max"] = max(s["max"], x)
                    if lo <= x <= hi:
                        # Scale before shifting, as stats does: (x - lo) / width
                        # puts -0.8 in bin 0 ((-0.8 + 1) / 0.2 = 0.999...).
                        k = 10 / (hi - lo)
                        s["bins"][min(math.floor(x * k - lo * k), 9)] += 1
            v, i, t = r.get("valence"), r.get("intimacy"), r.get("tension")
            if isinstance(i, (int, float)):
                base["distant"] += i <= -0.1
                base["high_intimacy"] += i >= 0.3
            if isinstance(v, (int, float)):
                base["positive"] += v >= 0.2
                base["negative"] += v <= -0.2
            if isinstance(t, (int, float)):
                base["high_tension"] += t >= 0.4
            tags.update(r.get("tags") or [])
            archetypes[r.get("archetype")] += 1
            sources[r.get("source")] += 1
    out = {"rows": rows, "axes": {}}
    for a, s in acc.items():
        n = s["n"]
        mean = s["sum"] / n if n else None
        out["axes"][a] = {"count": n, "mean": mean, "std": math.sqrt(max(s["sq"] / n - mean * mean, 0)) if n else None,
                          "min": s["min"], "max": s["max"], "bins": s["bins"]}
    out["baseline"] = dict(base)
    out["top_tags"] = tags.most_common(10)
    out["archetypes"] = dict(archetypes)
    out["sources"] = dict(sources)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
