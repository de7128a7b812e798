"""llama.cpp's answers (PyPI llama-cpp-python, greedy, the GGUF's own chat
template) to a file of prompts, for checking a converted model against the
GGUF it came from. Runs inside the llama-server virtualenv
(scripts/llama_server.py install).

usage: llama_reference.py MODEL.gguf PROMPTS.jsonl [--max-new-tokens N]
       prints one JSON object per prompt: {"response": text}
"""

import argparse
import json

from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("prompts")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    args = ap.parse_args()
    llm = Llama(model_path=args.gguf, n_ctx=2048, n_threads=2, verbose=False, seed=0)
    with open(args.prompts) as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            messages = [{"role": "user", "content": row["prompt"]}]
            if row.get("system_prompt"):
                messages.insert(0, {"role": "system", "content": row["system_prompt"]})
            out = llm.create_chat_completion(messages=messages, temperature=0, max_tokens=args.max_new_tokens)
            print(json.dumps({"response": out["choices"][0]["message"]["content"]}), flush=True)


if __name__ == "__main__":
    main()
