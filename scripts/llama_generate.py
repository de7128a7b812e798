"""Greedy generation with llama.cpp in process (PyPI llama-cpp-python), raw
prompts, one at a time: the `lm` suite of `make bench` times it (prompt
evaluation included, model load excluded) and `make test-api` compares its
tokens with `generate` on converted models. Runs with the llama-server
virtualenv's Python (scripts/llama_server.py install).

usage: llama_generate.py MODEL.gguf PROMPTS.jsonl --max-new-tokens N --threads T --stop ID...
       prints one JSON object per prompt: {"token_ids": [...], "tokens": n, "seconds": s};
       then {"load_seconds": s} last
"""

import argparse
import json
import sys
import time

from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("prompts")
    ap.add_argument("--max-new-tokens", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stop", type=int, nargs="*", default=[])
    args = ap.parse_args()
    start = time.perf_counter()
    llm = Llama(model_path=args.gguf, n_ctx=1024, n_threads=args.threads, n_threads_batch=args.threads,
                n_batch=512, verbose=False)
    load = time.perf_counter() - start
    with open(args.prompts) as f:
        prompts = [json.loads(line)["prompt"] for line in f if line.strip()]
    for prompt in prompts:
        ids = llm.tokenize(prompt.encode(), add_bos=llm.metadata.get("tokenizer.ggml.add_bos_token") == "true",
                           special=False)
        llm.reset()
        start = time.perf_counter()
        out = []
        # temp 0: greedy; the same end-of-sequence tokens as refinery's lm.json.
        for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            if token in args.stop:
                break
            out.append(int(token))
            if len(out) == args.max_new_tokens:
                break
        seconds = time.perf_counter() - start
        print(json.dumps({"token_ids": out, "tokens": len(out), "seconds": seconds}), flush=True)
    print(json.dumps({"load_seconds": load}))


if __name__ == "__main__":
    sys.exit(main())
