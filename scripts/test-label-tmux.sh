#!/usr/bin/env bash
# `label` end to end in a real terminal: tmux runs the binary, send-keys
# types as a rater would, capture-pane reads the screen. Labels three
# candidates, quits, starts again (it must resume after the third), undoes
# the third answer, quits, and compares the output file with a golden file.
# Needs tmux (Debian package tmux; installed here when missing and possible).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tmux > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get install -y -qq tmux > /dev/null || { apt-get update -qq && apt-get install -y -qq tmux > /dev/null; }
  else
    echo "test-label-tmux: tmux is not installed (apt-get install tmux)"; exit 1
  fi
fi
cargo build --locked -q -p refinery-label
bin=$PWD/target/debug/label
work=$(mktemp -d)
session=refinery-label-$$
trap 'tmux kill-session -t "$session" 2> /dev/null || true; rm -rf "$work"' EXIT
out=$work/labelled.jsonl

start() {
  tmux new-session -d -s "$session" -x 110 -y 40 \
    "SOURCE_DATE_EPOCH=1795377600 $bin testdata/label/candidates.jsonl -o $out --rater ana; echo label-exited-\$?; sleep 30"
}
screen() { tmux capture-pane -p -t "$session"; }
# Waits until the screen shows $1 (a fixed string), or fails showing the screen.
wait_for() {
  for _ in $(seq 100); do
    if screen | grep -qF -- "$1"; then return 0; fi
    sleep 0.1
  done
  echo "test-label-tmux: the screen never showed: $1"; screen; exit 1
}
keys() { tmux send-keys -t "$session" "$@"; }
lines() { if [ -f "$out" ]; then wc -l < "$out"; else echo 0; fi; }
expect_lines() {
  for _ in $(seq 50); do [ "$(lines)" -eq "$1" ] && return 0; sleep 0.1; done
  echo "test-label-tmux: expected $1 answers in the output, found $(lines)"; screen; exit 1
}

start
wait_for "1/4 candidates"
wait_for "honestly? he didn't come home"
# 1: valence two steps down from the prediction, intimacy typed, archetype by Tab, a tag
keys Left Left Enter 0.45 Enter Enter Right Enter hostile_i Tab Enter argument Enter
wait_for "2/4 candidates"
expect_lines 1
# 2: an out-of-range value is refused on the spot, then corrected; saved with Ctrl-S
keys 1.5 Enter
wait_for "refused: valence: 1.5 is outside [-1, 1]"
keys BSpace BSpace BSpace -0.5 C-s
wait_for "3/4 candidates"
expect_lines 2
# 3: an unknown archetype is refused; then none, saved from the tags field
keys Down Down Down Down cautious Enter
wait_for 'refused: archetype: unknown "cautious"'
keys BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace flat Tab Enter teasing Enter
wait_for "4/4 candidates"
expect_lines 3
keys C-q
wait_for "label-exited-0"
tmux kill-session -t "$session"

# Again: resumes at the fourth candidate; undo brings the third back
start
wait_for "resumed after 3"
wait_for "This is the worst take"
keys C-u
wait_for "undone: the last answer is back in the form"
wait_for "I swear if you leave your socks"
expect_lines 2
keys Escape
wait_for "label-exited-0"

golden=testdata/golden/label/tmux.jsonl
if [ -n "${UPDATE_GOLDEN:-}" ]; then cp "$out" "$golden"; fi
if ! cmp -s "$out" "$golden"; then
  echo "test-label-tmux: $out differs from $golden"; diff "$golden" "$out" || true; exit 1
fi
echo "label in tmux: 3 labelled, resumed, undone: ok"
