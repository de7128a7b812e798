"""The Python reference for refinery's `generate`: greedy decoding of a model
directory with PyPI onnxruntime and tokenizers, one prompt at a time, with
the KV cache (or without it, re-running the whole sequence each step).

Used by the parity test (same tokens as `generate`, token for token) and by
the benchmark (the loop a user would otherwise write).

usage: reference.py MODEL_DIR PROMPTS.jsonl [--max-new-tokens N] [--no-cache]
       prints one JSON object per prompt: {"response_token_ids": [...], "seconds": s}
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


class Decoder:
    def __init__(self, model_dir, threads=0):
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(os.path.join(model_dir, "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        with open(os.path.join(model_dir, "lm.json")) as f:
            self.config = json.load(f)
        names = [i.name for i in self.session.get_inputs()]
        self.kv_names = [n for n in names if n.startswith("past_key_values.")]
        self.has_keep = "num_logits_to_keep" in names

    def empty_cache(self):
        shape = (1, self.config["kv_heads"], 0, self.config["head_dim"])
        return {n: np.zeros(shape, np.float32) for n in self.kv_names}

    def step(self, ids, past, past_len):
        feed = {
            "input_ids": np.array([ids], np.int64),
            "attention_mask": np.ones((1, past_len + len(ids)), np.int64),
            "position_ids": np.arange(past_len, past_len + len(ids), dtype=np.int64)[None, :],
            **past,
        }
        if self.has_keep:
            feed["num_logits_to_keep"] = np.array(1, np.int64)
        outputs = self.session.run(None, feed)
        names = [o.name for o in self.session.get_outputs()]
        present = {n.replace("present.", "past_key_values."): v for n, v in zip(names[1:], outputs[1:])}
        return outputs[0][0, -1], present

    def greedy(self, prompt_ids, max_new_tokens, use_cache=True):
        stops = set(self.config["eos_token_ids"])
        out = []
        logits, past = self.step(prompt_ids, self.empty_cache(), 0)
        while True:
            token = int(np.argmax(logits))
            if token in stops:
                return out  # the end-of-sequence token is not part of the response
            out.append(token)
            if len(out) == max_new_tokens:
                return out
            if use_cache:
                logits, past = self.step([token], past, len(prompt_ids) + len(out) - 1)
            else:
                logits, _ = self.step(prompt_ids + out, self.empty_cache(), 0)


def chat_prompt(config, system, user):
    """SmolLM2's template, written out: the parity test checks `generate --chat`
    renders the same text."""
    system = system or "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def prompt_text(config, row, chat):
    system = row.get("system_prompt")
    if chat:
        return chat_prompt(config, system, row["prompt"])
    return f"{system}\n\n{row['prompt']}" if system else row["prompt"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("prompts")
    ap.add_argument("--max-new-tokens", type=int, default=50)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--chat", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    dec = Decoder(args.model_dir, args.threads)
    with open(args.prompts) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        text = prompt_text(dec.config, row, args.chat)
        ids = dec.tokenizer.encode(text, add_special_tokens=False).ids
        start = time.perf_counter()
        out = dec.greedy(ids, args.max_new_tokens, use_cache=not args.no_cache)
        seconds = time.perf_counter() - start
        print(json.dumps({"prompt_token_count": len(ids), "response_token_ids": out,
                          "response": dec.tokenizer.decode(out, skip_special_tokens=False), "seconds": seconds}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
