"""Checks that running the output head in slices of the vocabulary (what
decoder_graph.py does to bound the memory a load peaks at) changes no logit:
converts MODEL.gguf with --weights q4 twice, sliced as the converter does
and as one MatMulNBits, and compares the logits of both graphs bit for bit
on random token ids at several batch and prompt shapes.

usage: head_slices.py MODEL.gguf   (exit status 1 on any difference)
"""

import os
import sys

import numpy as np
import onnxruntime as ort
from gguf import GGUFReader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decoder_graph  # noqa: E402
from gguf_to_onnx import read_hparams, read_weights  # noqa: E402


def session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def random_feed(hp, batch, seq, rng):
    feed = {
        "input_ids": rng.integers(0, hp.vocab, (batch, seq)).astype(np.int64),
        "attention_mask": np.ones((batch, seq), np.int64),
        "position_ids": np.tile(np.arange(seq, dtype=np.int64), (batch, 1)),
        "num_logits_to_keep": np.array(seq, np.int64),
    }
    for i in range(hp.layers):
        for part in ("key", "value"):
            feed[f"past_key_values.{i}.{part}"] = np.zeros((batch, hp.kv_heads, 0, hp.head_dim), np.float32)
    return feed


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    reader = GGUFReader(sys.argv[1])
    hp = read_hparams(reader)
    weights = read_weights(reader, hp, keep_quantized=True)
    sliced = decoder_graph.build_decoder(hp, weights)
    slices = sum(1 for n in sliced.graph.node if n.op_type == "MatMulNBits" and n.input[1].startswith("lm_head."))
    if slices < 2:
        sys.exit(f"head_slices: the head of {sys.argv[1]} runs as {slices} product(s): nothing to compare")
    decoder_graph.HEAD_SLICE_BYTES = 1 << 62
    whole = decoder_graph.build_decoder(hp, weights)
    a, b = session(sliced), session(whole)
    rng = np.random.default_rng(0)
    for batch, seq in [(1, 1), (1, 9), (4, 3), (8, 1)]:
        feed = random_feed(hp, batch, seq, rng)
        x, y = (s.run(["logits"], feed)[0] for s in (a, b))
        if x.shape != y.shape or not np.array_equal(x.view(np.uint32), y.view(np.uint32)):
            sys.exit(f"head_slices: batch {batch} x {seq}: logits differ (max {np.abs(x - y).max()})")
    print(f"head_slices: the head in {slices} slices gives the same logits, bit for bit, as one product")


if __name__ == "__main__":
    main()
