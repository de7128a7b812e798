"""Makes the tiny random-weight test model committed under
testdata/models/tiny: the same decoder graph as the converted SmolLM2 (same
inputs, outputs, KV cache, grouped-query attention, float16 weights with a
Cast), 2 layers of width 64, a 64-token context (so truncation is easy to
test), and a byte-level BPE tokenizer of 400 tokens trained on the bundled
sample texts. Deterministic: the same numpy seed gives the same weights.

Also writes OUT_DIR/../tiny-q4, the same weights rounded to GGUF-style Q4_1
blocks and kept quantized (the converter's --weights q4 graph, MatMulNBits),
and two models of the wrong kind next to it, for the error tests:
OUT_DIR/../not-a-decoder (an encoder's inputs and outputs) and
OUT_DIR/../no-kv-cache (a decoder graph without past_key_values inputs), and
OUT_DIR/../tiny-qwen2, the Qwen2 graph (biases, untied 8-bit head, --weights q8).

usage: make_tiny_model.py OUT_DIR
"""

import dataclasses
import glob
import json
import os
import sys

import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decoder_graph import BlockQuantized, Hparams, build_decoder, q8_blocks  # noqa: E402
from tokenizer_files import train_tiny_tokenizer  # noqa: E402

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def sample_texts(repo):
    texts = []
    for path in sorted(glob.glob(os.path.join(repo, "pipelines/sample/*.jsonl"))):
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row.get("text"), str):
                    texts.append(row["text"])
    return texts + ["The quick brown fox jumps over the lazy dog. 0123456789"] * 4


def random_weights(hp: Hparams, rng) -> dict:
    # Scales chosen so that logits are well spread (greedy choices must not
    # hinge on float rounding, or batch-versus-single tests would be flaky) and
    # the MLP outweighs the tied embedding (else the model echoes its input).
    def mat(n_in, n_out, scale):
        return rng.normal(0.0, scale / np.sqrt(n_in), size=(n_in, n_out)).astype(np.float32)

    w = {"embed": rng.normal(0.0, 0.5, size=(hp.vocab, hp.hidden)).astype(np.float32),
         "norm": np.ones(hp.hidden, np.float32)}
    kv = hp.kv_heads * hp.head_dim
    for i in range(hp.layers):
        w[f"{i}.q"], w[f"{i}.k"] = mat(hp.hidden, hp.hidden, 2.0), mat(hp.hidden, kv, 2.0)
        w[f"{i}.v"], w[f"{i}.o"] = mat(hp.hidden, kv, 1.0), mat(hp.hidden, hp.hidden, 4.0)
        w[f"{i}.gate"], w[f"{i}.up"] = mat(hp.hidden, hp.ffn, 1.0), mat(hp.hidden, hp.ffn, 1.0)
        w[f"{i}.down"] = mat(hp.ffn, hp.hidden, 4.0)
        w[f"{i}.attn_norm"] = rng.uniform(0.8, 1.2, hp.hidden).astype(np.float32)
        w[f"{i}.ffn_norm"] = rng.uniform(0.8, 1.2, hp.hidden).astype(np.float32)
    return w


def q4_1(w_in_out):
    """Rounds a [in, out] matrix to Q4_1 blocks of 32 along `in`, as llama.cpp
    does: per block d = (max - min) / 15, m = min, q = round((x - m) / d)."""
    w = w_in_out.T  # [out, in]
    blocks = w.reshape(w.shape[0], -1, 32)
    lo, hi = blocks.min(-1), blocks.max(-1)
    d = np.where(hi > lo, (hi - lo) / 15.0, 1.0).astype(np.float16).astype(np.float32)
    m = lo.astype(np.float16).astype(np.float32)
    q = np.clip(np.rint((blocks - m[..., None]) / d[..., None]), 0, 15).astype(np.uint8)
    return BlockQuantized(bits=4, q=q, scale=d, offset=m + 8.0 * d)


def quantized_copy(weights, hp: Hparams):
    w = dict(weights)
    for i in range(hp.layers):
        for k in ("q", "k", "v", "o", "gate", "up", "down"):
            w[f"{i}.{k}"] = q4_1(weights[f"{i}.{k}"])
    return w


def wrong_kind_models(out_dir, hp: Hparams):
    """Tiny graphs with the tiny model's tokenizer and lm.json."""
    base = os.path.dirname(os.path.abspath(out_dir))
    embed = numpy_helper.from_array(np.zeros((hp.vocab, 8), np.float32), "embed")
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    kinds = {
        "not-a-decoder": ([ids, mask, helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "seq"])],
                          "last_hidden_state"),
        "no-kv-cache": ([ids, mask], "logits"),
    }
    for name, (inputs, output) in kinds.items():
        node = helper.make_node("Gather", ["embed", "input_ids"], [output])
        out = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", "seq", 8])
        graph = helper.make_graph([node], name, inputs, [out], [embed])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        target = os.path.join(base, name)
        os.makedirs(target, exist_ok=True)
        onnx.save(model, os.path.join(target, "model.onnx"))
        for f in ("tokenizer.json", "lm.json"):
            shutil.copy(os.path.join(out_dir, f), os.path.join(target, f))


def tiny_qwen2(out_dir, hp: Hparams):
    """OUT_DIR/../tiny-qwen2: the graph the converter writes for a Qwen2 GGUF
    with --weights q8: Q/K/V biases, an untied output projection, every
    projection in 8-bit blocks (MatMulNBits), the embedding table gathered
    from float16. Its own seed, so the other models do not change."""
    rng = np.random.default_rng(20261130)
    hp = dataclasses.replace(hp, qkv_bias=True, rope_base=1000000.0)
    w = random_weights(hp, rng)
    kv = hp.kv_heads * hp.head_dim
    for i in range(hp.layers):
        for k, n in (("q", hp.hidden), ("k", kv), ("v", kv)):
            w[f"{i}.{k}_bias"] = rng.normal(0.0, 0.5, n).astype(np.float32)
        for k in ("q", "k", "v", "o", "gate", "up", "down"):
            w[f"{i}.{k}"] = q8_blocks(w[f"{i}.{k}"].T)
    w["lm_head"] = q8_blocks(rng.normal(0.0, 0.5, size=(hp.vocab, hp.hidden)).astype(np.float32))
    target = os.path.join(os.path.dirname(os.path.abspath(out_dir)), "tiny-qwen2")
    os.makedirs(target, exist_ok=True)
    onnx.save(build_decoder(hp, w, np.float16, producer="refinery make_tiny_model"),
              os.path.join(target, "model.onnx"))
    shutil.copy(os.path.join(out_dir, "tokenizer.json"), target)
    with open(os.path.join(out_dir, "lm.json")) as f:
        config = json.load(f)
    config.update(name="tiny-random-qwen2", architecture="qwen2", padding_side="right")
    with open(os.path.join(target, "lm.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def main():
    out_dir = sys.argv[1]
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    tokenizer = train_tiny_tokenizer(sample_texts(repo), vocab_size=400, specials=SPECIALS)
    hp = Hparams(layers=2, hidden=64, ffn=128, heads=4, kv_heads=2, vocab=tokenizer.get_vocab_size(),
                 rope_base=10000.0, rms_eps=1e-5, context_length=64)
    weights = random_weights(hp, np.random.default_rng(20261122))
    # tiny keeps the left-padded Hugging Face / optimum graph (the layout of
    # exported models); tiny-q4 and tiny-qwen2 are packed, as the converter writes.
    model = build_decoder(hp, weights, np.float16, producer="refinery make_tiny_model", packed=False)
    os.makedirs(out_dir, exist_ok=True)
    onnx.save(model, os.path.join(out_dir, "model.onnx"))
    tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
    config = {
        "format": "refinery.lm/1", "name": "tiny-random", "architecture": "llama",
        "context_length": hp.context_length, "vocab_size": hp.vocab, "layers": hp.layers,
        "kv_heads": hp.kv_heads, "head_dim": hp.head_dim, "add_bos_token": False, "bos_token_id": 1,
        "eos_token_ids": [2, 0], "pad_token_id": 2, "chat_template": CHAT_TEMPLATE,
        "source": {"file": "scripts/lm/make_tiny_model.py", "sha256": None},
    }
    with open(os.path.join(out_dir, "lm.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    q4_dir = os.path.join(os.path.dirname(os.path.abspath(out_dir)), "tiny-q4")
    os.makedirs(q4_dir, exist_ok=True)
    onnx.save(build_decoder(hp, quantized_copy(weights, hp), np.float16, producer="refinery make_tiny_model"),
              os.path.join(q4_dir, "model.onnx"))
    shutil.copy(os.path.join(out_dir, "tokenizer.json"), q4_dir)
    with open(os.path.join(q4_dir, "lm.json"), "w") as f:
        json.dump(dict(config, padding_side="right"), f, indent=2)
        f.write("\n")
    wrong_kind_models(out_dir, hp)
    tiny_qwen2(out_dir, hp)


if __name__ == "__main__":
    main()
