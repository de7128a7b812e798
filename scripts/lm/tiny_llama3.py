"""A tiny random-weight Llama 3.1-style model, to test the Llama 3 family
without a real Llama 3 GGUF (none is on the package registries): 2 layers
of width 64, grouped-query attention, rope base 500000 and the "llama3"
rope scaling (factor 8, low/high frequency factors 1 and 4, and an original
context of 16 tokens, so the scaling changes most frequencies within the
64-token context), tied embeddings, the tiny test tokenizer's vocabulary
with Llama 3's pre-tokenizer (llama-bpe).

  gguf OUT.gguf       writes the model as llama.cpp's converter would: Q/K
                      rows permuted for its rotary, the scaling as a
                      rope_freqs tensor, float32 weights
  reference MODEL_DIR PROMPTS.jsonl [--max-new-tokens N] [--no-scaling]
                      greedy decoding in numpy, written from the Hugging Face
                      Llama code's definition (rope_type "llama3" frequencies
                      computed from the config, not from rope_freqs; no KV
                      cache), tokenizing with MODEL_DIR/tokenizer.json; one
                      {"response_token_ids": [...]} per prompt. --no-scaling
                      drops the rope scaling (the test's negative control).
"""

import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from graph_builder import Hparams  # noqa: E402
from make_tiny_model import random_weights  # noqa: E402

TOKENIZER = os.path.join(HERE, "..", "..", "testdata", "models", "tiny", "tokenizer.json")
SEED = 20261201
ROPE_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16}


def hparams(vocab):
    return Hparams(layers=2, hidden=64, ffn=128, heads=4, kv_heads=2, vocab=vocab, rope_base=500000.0,
                   rms_eps=1e-5, context_length=64)


def tokenizer_vocab():
    with open(TOKENIZER) as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    specials = {t["id"] for t in tok["added_tokens"] if t["special"]}
    return tokens, merges, specials


def hf_weights(vocab):
    """The model in the Hugging Face layout: projections [out, in]."""
    w = random_weights(hparams(vocab), np.random.default_rng(SEED))
    hf = {"embed": w["embed"], "norm": w["norm"]}
    for i in range(2):
        for k in ("q", "k", "v", "o", "gate", "up", "down"):
            hf[f"{i}.{k}"] = np.ascontiguousarray(w[f"{i}.{k}"].T)
        hf[f"{i}.attn_norm"], hf[f"{i}.ffn_norm"] = w[f"{i}.attn_norm"], w[f"{i}.ffn_norm"]
    return hf


def write_gguf(path):
    from gguf import GGUFWriter

    tokens, merges, specials = tokenizer_vocab()
    hp, hf = hparams(len(tokens)), hf_weights(len(tokens))
    w = GGUFWriter(path, "llama")
    w.add_name("tiny-random-llama3")
    w.add_context_length(hp.context_length)
    w.add_embedding_length(hp.hidden)
    w.add_block_count(hp.layers)
    w.add_feed_forward_length(hp.ffn)
    w.add_head_count(hp.heads)
    w.add_head_count_kv(hp.kv_heads)
    w.add_rope_dimension_count(hp.head_dim)
    w.add_rope_freq_base(hp.rope_base)
    w.add_layer_norm_rms_eps(hp.rms_eps)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types([3 if i in specials else 1 for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)

    def permute(m, heads):  # llama.cpp's converter: rows in its interleaved rotary order
        return m.reshape(heads, 2, m.shape[0] // heads // 2, *m.shape[1:]).swapaxes(1, 2).reshape(m.shape)

    w.add_tensor("token_embd.weight", hf["embed"])
    w.add_tensor("output_norm.weight", hf["norm"])
    w.add_tensor("rope_freqs.weight", llama_cpp_rope_factors(hp).astype(np.float32))
    names = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up",
             "down": "ffn_down"}
    for i in range(hp.layers):
        for k, name in names.items():
            m = hf[f"{i}.{k}"]
            if k in ("q", "k"):
                m = permute(m, hp.heads if k == "q" else hp.kv_heads)
            w.add_tensor(f"blk.{i}.{name}.weight", np.ascontiguousarray(m))
        w.add_tensor(f"blk.{i}.attn_norm.weight", hf[f"{i}.attn_norm"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", hf[f"{i}.ffn_norm"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama_cpp_rope_factors(hp):
    """rope_freqs as llama.cpp's converter writes it for rope_type llama3:
    one divisor per frequency."""
    s = ROPE_SCALING
    low_wavelen = s["original_max_position_embeddings"] / s["low_freq_factor"]
    high_wavelen = s["original_max_position_embeddings"] / s["high_freq_factor"]
    factors = []
    for freq in 1.0 / hp.rope_base ** (np.arange(0, hp.head_dim, 2) / hp.head_dim):
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(s["factor"])
        else:
            smooth = (s["original_max_position_embeddings"] / wavelen - s["low_freq_factor"]) / (
                s["high_freq_factor"] - s["low_freq_factor"])
            factors.append(1.0 / ((1 - smooth) / s["factor"] + smooth))
    return np.array(factors)


def hf_inv_freq(hp, scaling):
    """transformers' rope init for rope_type "llama3" (_compute_llama3_parameters)."""
    inv = 1.0 / hp.rope_base ** (np.arange(0, hp.head_dim, 2, dtype=np.float64) / hp.head_dim)
    if scaling is None:
        return inv
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    scaled = np.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return np.where(medium, smoothed, scaled)


def forward(hf, hp, ids, inv):
    """Logits of the last position: the Hugging Face Llama forward pass."""
    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + hp.rms_eps) * w

    def rotate_half(t):
        half = t.shape[-1] // 2
        return np.concatenate([-t[..., half:], t[..., :half]], axis=-1)

    n, d = len(ids), hp.head_dim
    freqs = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.cos(np.concatenate([freqs, freqs], -1)).astype(np.float32)[None]
    sin = np.sin(np.concatenate([freqs, freqs], -1)).astype(np.float32)[None]
    x = hf["embed"][ids]
    causal = np.triu(np.full((n, n), -np.inf, np.float32), 1)
    for i in range(hp.layers):
        h = rms(x, hf[f"{i}.attn_norm"])
        q = (h @ hf[f"{i}.q"].T).reshape(n, hp.heads, d).transpose(1, 0, 2)
        k = (h @ hf[f"{i}.k"].T).reshape(n, hp.kv_heads, d).transpose(1, 0, 2)
        v = (h @ hf[f"{i}.v"].T).reshape(n, hp.kv_heads, d).transpose(1, 0, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = hp.heads // hp.kv_heads
        k, v = np.repeat(k, rep, axis=0), np.repeat(v, rep, axis=0)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d) + causal
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        attn = (probs @ v).transpose(1, 0, 2).reshape(n, hp.hidden)
        x = x + attn @ hf[f"{i}.o"].T
        h = rms(x, hf[f"{i}.ffn_norm"])
        gate = h @ hf[f"{i}.gate"].T
        x = x + ((gate / (1 + np.exp(-gate))) * (h @ hf[f"{i}.up"].T)) @ hf[f"{i}.down"].T
    return rms(x[-1], hf["norm"]) @ hf["embed"].T


def reference(model_dir, prompts, max_new_tokens, scaling):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    with open(os.path.join(model_dir, "lm.json")) as f:
        stops = set(json.load(f)["eos_token_ids"])
    hp = hparams(tok.get_vocab_size())
    hf, inv = hf_weights(hp.vocab), hf_inv_freq(hp, scaling)
    with open(prompts) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        ids = tok.encode(row["prompt"], add_special_tokens=False).ids
        out = []
        while len(out) < max_new_tokens:
            token = int(np.argmax(forward(hf, hp, ids + out, inv)))
            if token in stops:
                break
            out.append(token)
        print(json.dumps({"response_token_ids": out}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gguf")
    g.add_argument("out")
    r = sub.add_parser("reference")
    r.add_argument("model_dir")
    r.add_argument("prompts")
    r.add_argument("--max-new-tokens", type=int, default=16)
    r.add_argument("--no-scaling", action="store_true")
    args = ap.parse_args()
    if args.command == "gguf":
        write_gguf(args.out)
    else:
        reference(args.model_dir, args.prompts, args.max_new_tokens, None if args.no_scaling else ROPE_SCALING)


if __name__ == "__main__":
    main()
