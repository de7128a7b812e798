#!/usr/bin/env python3
"""Writes the bundled sample datasets.

  make_sample.py          > pipelines/sample/run002_plus_goe.sample.jsonl
  make_sample.py labels   > pipelines/sample/run003_labels/batch1.jsonl
  make_sample.py overlap  > pipelines/sample/run003_overlap/rater2.jsonl


A stand-in for a real labelled dataset (run002_plus_goe): a few hundred rows
in the affect schema, warmth-heavy like the real baseline, with some rows in every
archetype. Deterministic: the same script writes the same bytes.
The labels stand in for a rater's first run003 batch: new rows for the
archetypes the baseline lacks, including distant ones; the overlap, for a
second rater's labels of a third of them (`stats --agreement` reads both).
"""
import json
import random

rng = random.Random(3)

# (archetype or None, axis centre (valence, intimacy, tension), tags, texts)
CELLS = [
    (None, (0.6, 0.7, 0.2), ["affection", "care"], [
        "I missed you so much today, tell me everything.",
        "You always know how to make me feel better.",
        "Thank you for staying up with me last night.",
        "I love how you remember the little things.",
        "Come here, I saved you the last slice.",
        "Honestly you're the best part of my week.",
        "I'm so proud of you for finishing that.",
        "Can we just stay like this a bit longer?",
    ]),
    (None, (0.3, 0.5, 0.5), ["tension", "care"], [
        "I know it's hard, but we'll figure it out together.",
        "Please text me when you land, I worry.",
        "I'm nervous about tomorrow but glad you'll be there.",
        "We should talk about what happened, gently.",
    ]),
    ("hostile_intimacy", (-0.6, 0.6, 0.7), ["argument", "tension"], [
        "You said you'd be home hours ago and you didn't even call me.",
        "Don't you dare tell me I'm overreacting, not after what you did.",
        "I saw the messages. Who is she to you?",
        "Every time I open up to you, you use it against me.",
        "You promised, and you lied to my face again.",
    ]),
    ("aggressive_distance", (-0.6, -0.4, 0.7), ["hostile"], [
        "I don't care who you are, get out of my thread.",
        "Read the manual before wasting everyone's time.",
        "Nobody asked for your opinion, move along.",
        "This is the third ticket you've botched. Fix it.",
    ]),
    ("neutral_but_close", (0.0, 0.6, 0.1), ["routine"], [
        "Did you want me to pick up milk on the way back?",
        "I'm on the couch, the game's on if you want to join.",
        "Mom called, she'll come by Sunday around noon.",
        "I left your charger on the kitchen table.",
    ]),
    ("flat_numb", (-0.4, -0.1, 0.1), ["numb"], [
        "I don't really feel anything about it anymore.",
        "Work, sleep, repeat. It's fine. Whatever.",
        "I guess I'm just tired all the time now.",
        "Nothing's wrong exactly, it's all just grey.",
    ]),
    ("fearful_urgent", (-0.6, 0.1, 0.9), ["fear", "tension"], [
        "Someone's trying the door handle, what do I do?",
        "I can't breathe, my chest is so tight, please answer.",
        "The water's still rising and the car won't start.",
        "He's not picking up and he was driving in this storm.",
    ]),
    ("playful_neutral", (0.1, 0.3, 0.1), ["playful", "teasing"], [
        "Oh sure, 'five more minutes', I've heard that one before.",
        "Nice parking job, did the curb do something to you?",
        "You call that a sandwich? Bold choice.",
    ]),
    ("safety_edge_cases", (-0.3, 0.2, 0.6), ["boundary", "discomfort"], [
        "Please stop asking me about that, it makes me uncomfortable.",
        "I said no, and I need you to respect that boundary.",
        "That joke went too far and I'm not okay with it.",
    ]),
]
WEIGHTS = [110, 40, 25, 20, 22, 18, 20, 15, 12]
SOURCES = ["manual_chat", "goemotions", "synthetic_probe"]


def clamp(x, lo=-1.0, hi=1.0):
    return max(lo, min(hi, x))


def main():
    rows = []
    for (archetype, centre, tags, texts), n in zip(CELLS, WEIGHTS):
        for i in range(n):
            text = texts[i % len(texts)]
            if i >= len(texts):
                text = f"{text} ({i // len(texts) + 1})"
            v, it, t = (round(clamp(c + rng.gauss(0, 0.12)), 2) for c in centre)
            source = rng.choices(SOURCES, weights=[6, 3, 1])[0]
            row = {
                "text": text,
                "valence": v,
                "intimacy": it,
                "tension": t,
                "confidence": round(rng.uniform(0.5, 1.0), 2),
                "tags": ([archetype] if archetype else []) + tags,
                "source": source,
            }
            if archetype:
                row["archetype"] = archetype
            if source == "manual_chat":
                row["session_id"] = f"s{rng.randrange(40):03d}"
                row["context"] = ["earlier turn", text]
            else:
                row["file"] = "goemotions/train.tsv" if source == "goemotions" else "probes/run002.jsonl"
            rows.append(row)
    rng.shuffle(rows)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


NEW_LABELS = [
    ("hostile_intimacy", (-0.65, 0.6, 0.75), ["argument", "jealousy"], [
        "Who were you texting at 2am? Don't lie to me.",
        "You don't get to call me baby after what you said.",
        "I gave you everything and you still make me feel like nothing.",
        "If you loved me you wouldn't keep doing this.",
        "Go ahead, walk out again, you always come back.",
        "I hate how much I still want you to stay.",
    ]),
    ("aggressive_distance", (-0.6, -0.45, 0.7), ["hostile"], [
        "Did I ask you? No. So stop replying.",
        "Whoever wrote this code should be banned from computers.",
        "Get your facts straight before you post garbage.",
        "I'm done explaining this to people like you.",
        "Your support team is useless, refund me now.",
        "Stay out of my mentions.",
        "Learn to read, it's right there in the first line.",
        "Nobody here owes you anything, pal.",
        "Cancel my account and don't call this number again.",
        "You people can't even get a pizza order right.",
    ]),
    ("neutral_but_close", (0.0, 0.55, 0.1), ["routine"], [
        "I'll be home around six, want me to grab bread?",
        "Your mom left a voicemail about Sunday.",
        "The cat knocked the plant over again, I cleaned it up.",
    ]),
    ("flat_numb", (-0.45, -0.15, 0.05), ["numb"], [
        "I don't know. I don't really care either way.",
        "Another day. Nothing happened. Nothing ever does.",
        "I stopped answering messages a while ago.",
    ]),
    ("fearful_urgent", (-0.6, 0.05, 0.9), ["fear"], [
        "There's smoke coming from under the door, what do I do?",
        "My daughter isn't answering and her location stopped updating.",
    ]),
    ("playful_neutral", (0.1, 0.3, 0.1), ["teasing"], [
        "Wow, you made the bed? Should I call the newspapers?",
        "Careful, you almost sounded organised there.",
    ]),
    ("safety_edge_cases", (-0.3, 0.15, 0.6), ["boundary"], [
        "I'm not okay with you sharing my photos.",
        "Please don't message me at work again, I've asked before.",
    ]),
]


def label_rows():
    rows = []
    for archetype, centre, tags, texts in NEW_LABELS:
        for i, text in enumerate(texts):
            v, it, t = (round(clamp(c + rng.gauss(0, 0.08)), 2) for c in centre)
            rows.append({
                "text": text,
                "valence": v,
                "intimacy": it,
                "tension": t,
                "confidence": round(rng.uniform(0.6, 0.95), 2),
                "tags": [archetype] + tags,
                "source": "manual_chat",
                "session_id": f"run003-{archetype}-{i // 2}",
                "context": ["(earlier turn)", text],
                "archetype": archetype,
                "id": f"run003-{archetype}-{i}",
                "overlap": len(rows) % 3 == 0,
                "labelled_by": "rater-sample",
            })
    return rows


def labels():
    for row in label_rows():
        print(json.dumps(row, ensure_ascii=False))


def overlap():
    """A second rater's labels of the overlap (every third candidate of the
    first batch), given independently: near the first rater's values, now
    and then another archetype."""
    second = random.Random(30)
    names = sorted({archetype for archetype, *_ in NEW_LABELS})
    for row in label_rows():
        if not row["overlap"]:
            continue
        mine = dict(row)
        for axis in ("valence", "intimacy", "tension"):
            mine[axis] = round(clamp(row[axis] + second.gauss(0, 0.1)), 2)
        mine["confidence"] = round(second.uniform(0.6, 0.95), 2)
        if second.random() < 0.15:
            mine["archetype"] = second.choice(names)
            mine["tags"] = [mine["archetype"]] + row["tags"][1:]
        mine["labelled_by"] = "rater-second"
        print(json.dumps(mine, ensure_ascii=False))


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["labels"]:
        labels()
    elif sys.argv[1:] == ["overlap"]:
        overlap()
    else:
        main()
