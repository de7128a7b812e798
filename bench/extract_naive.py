#!/usr/bin/env python3
"""What `extract-candidates` does for chat JSONL, with the standard library
only: what a user would otherwise write. Used by `make bench` as the baseline.
Usage: extract_naive.py FILE > candidates.jsonl"""
import collections
import json
import re
import sys

TEXT, SESSION, ROLE = ("text", "content", "message"), ("session_id", "conversation_id", "session"), ("role", "speaker", "sender")
TIME, ID = ("timestamp", "time", "ts", "created_at"), ("id", "message_id")
PRED = {"valence": "pred_valence", "intimacy": "pred_intimacy", "tension": "pred_tension", "tags": "pred_tags", "emotions": "emotions"}
WS = re.compile(r"\s+")


def first(row, names):
    for n in names:
        if row.get(n) is not None:
            return row[n]
    return None


def main(path):
    history = collections.defaultdict(lambda: collections.deque(maxlen=2))
    seen = set()
    out = sys.stdout
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            text = first(row, TEXT)
            session = first(row, SESSION)
            key = path if session is None else str(session)
            turns = history[key]
            turns.append(text)
            if len(text) < 1:
                continue
            norm = WS.sub(" ", text.lower()).strip()
            if norm in seen:
                continue
            seen.add(norm)
            cand = {"text": text, "context": list(turns), "source": "manual_chat"}
            if session is not None:
                cand["session_id"] = str(session)
            cand["file"] = path
            cand["line"] = lineno
            for name, value in (("id", first(row, ID)), ("timestamp", first(row, TIME)), ("role", first(row, ROLE))):
                if value is not None:
                    cand[name] = value
            for k, v in PRED.items():
                if row.get(k) is not None:
                    cand[v] = row[k]
            out.write(json.dumps(cand, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
