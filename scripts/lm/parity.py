"""Parity of `generate` with the Python reference (reference.py: PyPI
onnxruntime and tokenizers): greedy decoding of every prompt, in chat and in
raw mode, must give the same prompt tokens and the same response tokens.

usage: parity.py GENERATE_BIN MODEL_DIR PROMPTS.jsonl [--max-new-tokens N] [--modes chat,raw]
       (chat mode renders SmolLM2's template in Python: other models, --modes raw)
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import Decoder, prompt_text  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("generate")
    ap.add_argument("model_dir")
    ap.add_argument("prompts")
    ap.add_argument("--max-new-tokens", type=int, default=50)
    ap.add_argument("--modes", default="chat,raw")
    args = ap.parse_args()
    with open(args.prompts) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    dec = Decoder(args.model_dir)
    failures = 0
    for mode in args.modes.split(","):
        cmd = [args.generate, f"--{mode}", "--quiet", "--model", args.model_dir,
               "--max-new-tokens", str(args.max_new_tokens), "--batch-size", "8", args.prompts]
        got = [json.loads(line) for line in subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()]
        if len(got) != len(rows):
            sys.exit(f"parity: {mode}: generate wrote {len(got)} rows for {len(rows)} prompts")
        same = 0
        for i, (row, out) in enumerate(zip(rows, got)):
            ids = dec.tokenizer.encode(prompt_text(dec.config, row, mode == "chat"), add_special_tokens=False).ids
            want = dec.greedy(ids, args.max_new_tokens)
            if out["prompt_token_count"] != len(ids) or out["response_token_ids"] != want:
                failures += 1
                print(f"parity: {mode} prompt {i} differs:\n  python: {len(ids)} prompt tokens, {want}\n"
                      f"  rust:   {out['prompt_token_count']} prompt tokens, {out['response_token_ids']}", file=sys.stderr)
            elif out["response"] != dec.tokenizer.decode(want, skip_special_tokens=False):
                failures += 1
                print(f"parity: {mode} prompt {i}: same tokens, different text: {out['response']!r}", file=sys.stderr)
            else:
                same += 1
        print(f"parity: {mode}: {same}/{len(rows)} prompts identical token for token "
              f"({sum(len(o['response_token_ids']) for o in got)} tokens)", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
