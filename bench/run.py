#!/usr/bin/env python3
"""`make bench`: each refinery tool side by side with what a user would
otherwise run, in one run, on the same deterministic synthetic data.

Prints wall time and peak memory (max RSS, from wait4) for every command and
the ratio of each alternative's time to refinery's. Every command's output is
checked for the figure it must agree on, so a fast wrong answer cannot pass.

Usage: python3 bench/run.py [SUITE...]   (suites: stats, extract, split, lm, judges, api; default all)
Environment: BENCH_ROWS (stats, default 1000000), BENCH_MESSAGES (extract,
default 250000), BENCH_SPLIT_ROWS (split, default 5000000), BENCH_DATA (default bench/data),
BENCH_REPEAT (best of N, default 3; slow baselines run once).
"""
import json
import os
import subprocess
import sys
import time

from lm_bench import peak_mb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
DATA = os.environ.get("BENCH_DATA", os.path.join(ROOT, "bench", "data"))
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def measure(cmd, stdout_path, stdin_path=None):
    """Runs cmd once; returns (seconds, peak RSS in MB, exit status)."""
    with open(stdout_path, "wb") as out, open(stdin_path or os.devnull, "rb") as inp:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stdin=inp, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    return seconds, peak_mb(usage), os.waitstatus_to_exitcode(status)


def best_of(cmd, stdout_path, repeat, stdin_path=None):
    runs = [measure(cmd, stdout_path, stdin_path) for _ in range(repeat)]
    for _, _, code in runs:
        if code != 0:
            sys.exit(f"bench: {' '.join(cmd)} exited with {code}")
    return min(r[0] for r in runs), max(r[1] for r in runs)


def ensure(path, cmd):
    if os.path.exists(path):
        return
    print(f"bench: writing {os.path.relpath(path, ROOT)} ...", flush=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        subprocess.run(cmd, stdout=out, check=True)
    os.replace(tmp, path)


def report(title, rows, size_mb, ours):
    print(f"\n## {title}\n")
    print(f"input: {size_mb:.0f} MB\n")
    print("| command | seconds | MB/s | peak MB | time / refinery's |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, peak in rows:
        ratio = seconds / ours
        print(f"| {name} | {seconds:.2f} | {size_mb / seconds:.0f} | {peak:.0f} | {ratio:.1f}x |")
    sys.stdout.flush()


def suite_stats():
    data = os.path.join(DATA, f"affect-{ROWS}.jsonl")
    ensure(data, [os.path.join(BIN, "refinery-synth"), "affect", "--rows", str(ROWS)])
    size_mb = os.path.getsize(data) / 1e6
    out = os.path.join(DATA, "out")
    os.makedirs(out, exist_ok=True)
    stats = [os.path.join(BIN, "stats"), "--format", "json", "--quiet", data]
    py = [sys.executable, os.path.join(ROOT, "bench", "stats_naive.py"), data]
    jq = ["jq", "-n", "-c", "-f", os.path.join(ROOT, "bench", "stats.jq"), data]
    results = []
    t, m = best_of(stats, os.path.join(out, "stats.json"), REPEAT)
    results.append(("refinery stats", t, m))
    # The coverage map comes from the same pass: it should cost little.
    plot = stats[:1] + ["--plot", os.path.join(out, "coverage.svg")] + stats[1:]
    t, m = best_of(plot, os.path.join(out, "stats_plot.json"), REPEAT)
    results.append(("refinery stats --plot", t, m))
    t, m = best_of(py, os.path.join(out, "stats_py.json"), 1)
    results.append(("python3 stdlib script", t, m))
    t, m = best_of(jq, os.path.join(out, "stats_jq.json"), 1)
    results.append(("jq reduce", t, m))
    # They must agree on what they computed.
    ours = json.load(open(os.path.join(out, "stats.json")))
    theirs = json.load(open(os.path.join(out, "stats_py.json")))
    jqs = json.load(open(os.path.join(out, "stats_jq.json")))
    assert ours["rows"] == theirs["rows"] == jqs["rows"] == ROWS
    for axis in ("valence", "intimacy", "tension", "confidence"):
        assert abs(ours["axes"][axis]["mean"] - theirs["axes"][axis]["mean"]) < 1e-9
        assert ours["axes"][axis]["histogram"]["bins"] == theirs["axes"][axis]["bins"] == jqs[axis]["bins"], axis
    assert ours["baseline"]["high_tension"] == theirs["baseline"]["high_tension"] == jqs["high_tension"]
    report(f"stats over {ROWS:,} affect rows", results, size_mb, results[0][1])
    suite_stats_merge(data, out, ours)


def suite_stats_merge(data, out, whole):
    """`stats --merge` of 100 shard reports against one pass: the same
    report (every figure a merge can give), and the merge's time."""
    shards = os.path.join(out, "shards")
    os.makedirs(shards, exist_ok=True)
    with open(data, "rb") as f:
        lines = f.readlines()
    step = -(-len(lines) // 100)
    reports = []
    for i in range(100):
        part = os.path.join(shards, f"part{i:03}.jsonl")
        with open(part, "wb") as f:
            f.writelines(lines[i * step:(i + 1) * step])
        reports.append(part + ".json")
        measure([os.path.join(BIN, "stats"), "--format", "json", "--quiet", part], reports[-1])
        os.remove(part)
    merge = [os.path.join(BIN, "stats"), "--merge", "--format", "json", "--quiet"] + reports
    t, m = best_of(merge, os.path.join(out, "stats_merged.json"), REPEAT)
    merged = json.load(open(os.path.join(out, "stats_merged.json")))
    merged.pop("merged")
    assert merged == whole, "the merged report differs from one pass"
    size_mb = sum(os.path.getsize(r) for r in reports) / 1e6
    report("stats --merge of 100 shard reports (the same report as one pass)", [("refinery stats --merge", t, m)], size_mb, t)


def count_splits(path):
    counts = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)["split"]
            counts[s] = counts.get(s, 0) + 1
    return counts


def suite_extract():
    messages = int(os.environ.get("BENCH_MESSAGES", "250000"))
    data = os.path.join(DATA, f"chat-{messages}.jsonl")
    ensure(data, [os.path.join(BIN, "refinery-synth"), "chat", "--messages", str(messages)])
    size_mb = os.path.getsize(data) / 1e6
    out = os.path.join(DATA, "out")
    os.makedirs(out, exist_ok=True)
    ours_out, py_out = os.path.join(out, "extract.jsonl"), os.path.join(out, "extract_py.jsonl")
    results = []
    t, m = best_of([os.path.join(BIN, "extract-candidates"), "--quiet", data], ours_out, REPEAT)
    results.append(("refinery extract-candidates", t, m))
    t, m = best_of([sys.executable, os.path.join(ROOT, "bench", "extract_naive.py"), data], py_out, 1)
    results.append(("python3 stdlib script", t, m))
    with open(ours_out, "rb") as a, open(py_out, "rb") as b:
        assert a.read() == b.read(), "extract-candidates and the Python script disagree"
    report(f"extract-candidates over {messages:,} chat messages (outputs byte-identical)", results, size_mb, results[0][1])


def suite_split():
    rows = int(os.environ.get("BENCH_SPLIT_ROWS", "5000000"))
    data = os.path.join(DATA, f"affect-{rows}.jsonl")
    ensure(data, [os.path.join(BIN, "refinery-synth"), "affect", "--rows", str(rows)])
    size_mb = os.path.getsize(data) / 1e6
    out = os.path.join(DATA, "out")
    os.makedirs(out, exist_ok=True)
    split = os.path.join(BIN, "stratify-split")
    results = []
    t, m = best_of([split, "--quiet", "--seed", "3", data], os.path.join(out, "split.jsonl"), 1)
    results.append(("refinery stratify-split (exact)", t, m))
    t, m = best_of([split, "--quiet", "--mode", "hash", "--seed", "3", data], os.path.join(out, "split_hash.jsonl"), 1)
    results.append(("refinery stratify-split --mode hash", t, m))
    t, m = best_of([sys.executable, os.path.join(ROOT, "bench", "split_naive.py"), data, "3"], os.path.join(out, "split_py.jsonl"), 1)
    results.append(("python3 stdlib script", t, m))
    ours, theirs = count_splits(os.path.join(out, "split.jsonl")), count_splits(os.path.join(out, "split_py.jsonl"))
    assert ours == theirs, (ours, theirs)
    report(f"stratify-split over {rows:,} affect rows (same split sizes)", results, size_mb, results[0][1])
    print(f"\npeak memory / input size: exact {results[0][2] / size_mb:.2f}x, hash {results[1][2]:.0f} MB flat")
    for f in ("split.jsonl", "split_hash.jsonl", "split_py.jsonl"):
        os.remove(os.path.join(out, f))


def suite_lm():
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import lm_bench

    lm_bench.suite_lm(DATA)


def suite_judges():
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import judge_bench

    judge_bench.suite_judges(DATA)


def suite_api():
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import api_bench

    api_bench.suite_api(DATA)


SUITES = {"stats": suite_stats, "extract": suite_extract, "split": suite_split, "lm": suite_lm, "judges": suite_judges,
          "api": suite_api}


def main():
    names = sys.argv[1:] or list(SUITES)
    os.makedirs(DATA, exist_ok=True)
    print(f"# refinery bench ({os.cpu_count()} cores, best of {REPEAT} for refinery, 1 for slow baselines)")
    for name in names:
        if name not in SUITES:
            sys.exit(f"bench: unknown suite {name!r} (suites: {', '.join(SUITES)})")
        SUITES[name]()


if __name__ == "__main__":
    main()
