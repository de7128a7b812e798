#!/usr/bin/env bash
# The pipelines end to end: `make harvest run003` on the bundled samples in a
# scratch OUT directory, every output compared with testdata/golden/pipelines/.
# UPDATE_GOLDEN=1 rewrites the golden files; review the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
make --no-print-directory -s harvest run003 OUT="$out" > "$out/make.log" 2>&1 || { cat "$out/make.log"; exit 1; }
# A second run must do nothing.
second=$(make --no-print-directory harvest run003 OUT="$out" 2>&1)
if grep -qE 'extract-candidates|stratify-split|validate|stats' <<< "$second"; then
  echo "test-pipelines: a second make rebuilt something:"; echo "$second"; exit 1
fi
golden=testdata/golden/pipelines
files=(fine_tune/harvest/candidates_manual.jsonl fine_tune/harvest/candidates_goemotions.jsonl
       fine_tune/harvest/goemotions_overflow.jsonl fine_tune/run003/affect_dataset_run003.jsonl
       fine_tune/run003/splits/train.jsonl fine_tune/run003/splits/dev.jsonl fine_tune/run003/splits/test.jsonl
       fine_tune/run003/split_report.json fine_tune/run003/report.md)
passed=0; failed=0
for f in "${files[@]}"; do
  want="$golden/$(echo "$f" | tr / _)"
  if [ -n "${UPDATE_GOLDEN:-}" ]; then mkdir -p "$golden"; cp "$out/$f" "$want"; fi
  if cmp -s "$out/$f" "$want"; then passed=$((passed+1)); else failed=$((failed+1)); echo "test-pipelines: $f differs from $want"; diff "$want" "$out/$f" | head -5 || true; fi
done
# The coverage maps the report embeds: one per file, naming it, with both
# tension panels (their drawing is tested in crates/stats/tests/plot.rs).
for f in coverage coverage_train coverage_dev coverage_test; do
  svg="$out/fine_tune/run003/$f.svg"
  if grep -q 'Coverage of ' "$svg" && grep -q 'all rows: tension &lt; 0.4\|all rows: tension < 0.4' "$svg" && grep -q 'archetypes, rows / target' "$svg"; then
    passed=$((passed+1))
  else
    failed=$((failed+1)); echo "test-pipelines: $svg is missing or lacks its panels"
  fi
done
echo "pipelines: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
