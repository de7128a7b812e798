#!/usr/bin/env bash
# `label` end to end in a real terminal: tmux runs the binary, send-keys
# types as a rater would, capture-pane reads the screen. On the blind form
# (the default) labels three candidates, quits, starts again (it must resume
# after the third), undoes the third answer, quits, and compares the output
# file with a golden file; then checks that --show-suggestions pre-fills it.
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
# Blind by default: no predicted values on screen, every field empty.
if screen | grep -qF "suggested"; then echo "test-label-tmux: suggestions shown without --show-suggestions"; screen; exit 1; fi
wait_for "valence    —"
# 1: a fresh form is not saved; valence by arrows (the first step puts it at 0),
#    intimacy typed, tension by arrows, confidence typed, archetype by Tab, a tag
keys C-s
wait_for "not saved: give valence, intimacy, tension, confidence first"
keys Left Left Enter 0.45 Enter Right Right Enter 0.9 Enter hostile_i Tab Enter argument Enter
wait_for "2/4 candidates"
expect_lines 1
# 2: an out-of-range value is refused on the spot, then corrected; saved with Ctrl-S
keys 1.5 Enter
wait_for "refused: valence: 1.5 is outside [-1, 1]"
keys BSpace BSpace BSpace -0.5 Enter 0 Enter 0.3 Enter 0.6 C-s
wait_for "3/4 candidates"
expect_lines 2
# 3: an unknown archetype is refused; then none, saved from the tags field
keys 0.1 Enter -0.2 Enter 0.2 Enter 0.5 Enter cautious Enter
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

# With --show-suggestions the form starts from the predictions (not the
# confidence), and the row says it was labelled with suggestions shown.
tmux kill-session -t "$session" 2> /dev/null || true
out=$work/assisted.jsonl
tmux new-session -d -s "$session" -x 110 -y 40 \
  "SOURCE_DATE_EPOCH=1795377600 $bin testdata/label/candidates.jsonl -o $out --rater ana --show-suggestions; echo label-exited-\$?; sleep 30"
wait_for "suggested, not labels: archetype=hostile_intimacy valence=-0.7"
wait_for "valence    -0.70"
keys Down Down Down 0.8 C-s
wait_for "2/4 candidates"
expect_lines 1
keys C-q
wait_for "label-exited-0"
grep -q '"valence":-0.7,.*"confidence":0.8,.*"labelled_with_suggestions":true' "$out" \
  || { echo "test-label-tmux: the assisted row is not as expected:"; cat "$out"; exit 1; }
echo "label in tmux: blind form, 3 labelled, resumed, undone; assisted form pre-filled: ok"
