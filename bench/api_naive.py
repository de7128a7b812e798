"""The baseline of the `api` bench: what a user writes without refinery, a
standard-library loop sending each prompt to chat completions in turn and
printing the rows.

usage: api_naive.py BASE_URL PROMPTS.jsonl MAX_NEW_TOKENS
"""
import json
import sys
import urllib.request

url, path, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
for line in open(path):
    if not line.strip():
        continue
    row = json.loads(line)
    body = {"model": "smollm2-135m-instruct", "max_tokens": max_tokens, "temperature": 0, "seed": 0,
            "messages": [{"role": "user", "content": row["prompt"]}]}
    request = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as r:
        answer = json.load(r)
    row["response"] = answer["choices"][0]["message"]["content"]
    row["finish_reason"] = answer["choices"][0]["finish_reason"]
    print(json.dumps(row))
